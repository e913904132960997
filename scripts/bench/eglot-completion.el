;;; eglot-completion.el --- times completion as Emacs (eglot) sees it, for `npm run bench -- lsp' -*- lexical-binding: t -*-
;; Opens QMP_BENCH_FILE with the server QMP_BENCH_NODE QMP_BENCH_CLI, puts point after `{"execute": "' on line
;; QMP_BENCH_LINE (0-based) and times, 60 times after 10 warm-ups, what pressing completion costs Emacs: the
;; request, parsing the reply and eglot's candidates for the word at point. Prints "P50 <ms>", "N <items>" and
;; "BASE <ms>", the p50 of a hover request there (the round trip of a tiny reply, as Emacs waits for it).
(require 'eglot)
(define-derived-mode qmp-bench-mode prog-mode "QMP")
(find-file (getenv "QMP_BENCH_FILE"))
(qmp-bench-mode)
(let* ((server (eglot '(qmp-bench-mode) (cons 'transient default-directory) 'eglot-lsp-server
                      (list (getenv "QMP_BENCH_NODE") (getenv "QMP_BENCH_CLI") "lsp" "--stdio") "qmp"))
       (times nil) (n 0))
  (ignore server)
  (let ((deadline (+ (float-time) 20)))
    (while (and (not (eglot-current-server)) (< (float-time) deadline)) (accept-process-output nil 0.05)))
  (goto-char (point-min)) (forward-line (string-to-number (getenv "QMP_BENCH_LINE"))) (end-of-line)
  ;; Let the server read its schema.
  (sleep-for 2)
  (dotimes (k 70)
    (let* ((t0 (float-time))
           (capf (eglot-completion-at-point))
           (cands (all-completions (buffer-substring-no-properties (nth 0 capf) (nth 1 capf)) (nth 2 capf)))
           (ms (* 1000 (- (float-time) t0))))
      (setq n (length cands))
      (when (>= k 10) (push ms times))))
  (setq times (sort times #'<))
  (princ (format "P50 %.2f\nN %d\n" (nth (/ (length times) 2) times) n))
  ;; The baseline: a request with a tiny reply (hover on the same line), the same 60 times.
  (let ((base nil))
    (dotimes (k 70)
      (let ((t0 (float-time)))
        (jsonrpc-request (eglot-current-server) :textDocument/hover (eglot--TextDocumentPositionParams))
        (when (>= k 10) (push (* 1000 (- (float-time) t0)) base))))
    (setq base (sort base #'<))
    (princ (format "BASE %.2f\n" (nth (/ (length base) 2) base))))
  ;; The completion request alone (no eglot deferral, no candidates).
  (let ((raw nil))
    (dotimes (k 70)
      (let ((t0 (float-time)))
        (jsonrpc-request (eglot-current-server) :textDocument/completion (eglot--CompletionParams))
        (when (>= k 10) (push (* 1000 (- (float-time) t0)) raw))))
    (setq raw (sort raw #'<))
    (princ (format "RAW %.2f\n" (nth (/ (length raw) 2) raw))))
  (ignore-errors (eglot-shutdown (eglot-current-server)))
  (kill-emacs 0))
