;;; eglot-client.el --- drives Emacs's eglot against `qmp-notebook lsp' in batch mode -*- lexical-binding: t -*-
;; The test (test/lsp/clients.test.ts) sets QMP_LSP_* and reads the JSON this writes. Every wait is bounded.
(require 'eglot)
(require 'json)
(define-derived-mode qmp-notebook-mode prog-mode "QMP")
(add-to-list 'auto-mode-alist '("\\.qmp\\'" . qmp-notebook-mode))
(defvar qmp-lsp-diagnostics nil)
(cl-defmethod eglot-handle-notification :before
  (_server (_method (eql textDocument/publishDiagnostics)) &key diagnostics &allow-other-keys)
  (when (> (length diagnostics) 0) (setq qmp-lsp-diagnostics diagnostics)))
(defun qmp-lsp-wait (pred secs)
  (let ((deadline (+ (float-time) secs)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall pred)))
(defun qmp-lsp-point (line char)
  (goto-char (point-min)) (forward-line line) (forward-char char) (eglot--TextDocumentPositionParams))
(let ((result (list)) (errors nil))
  (condition-case err
      (progn
        (find-file (getenv "QMP_LSP_FILE"))
        (let* ((default-directory (file-name-as-directory (getenv "QMP_LSP_ROOT")))
               (server (eglot '(qmp-notebook-mode) (cons 'transient default-directory) 'eglot-lsp-server
                              (list (getenv "QMP_LSP_NODE") (getenv "QMP_LSP_CLI") "lsp" "--stdio") "qmp"))
               (line (string-to-number (getenv "QMP_LSP_LINE"))))
          (qmp-lsp-wait (lambda () (eglot-current-server)) 20)
          (setq server (eglot-current-server))
          (let* ((c (jsonrpc-request server :textDocument/completion
                                     (qmp-lsp-point line (string-to-number (getenv "QMP_LSP_COMPLETE_CHAR")))
                                     :timeout 20))
                 (items (if (vectorp c) c (plist-get c :items))))
            (push (cons 'completion (vconcat (mapcar (lambda (i) (plist-get i :label)) items))) result))
          (let ((h (jsonrpc-request server :textDocument/hover
                                    (qmp-lsp-point line (string-to-number (getenv "QMP_LSP_HOVER_CHAR")))
                                    :timeout 20)))
            (push (cons 'hover (plist-get (plist-get h :contents) :value)) result))
          (qmp-lsp-wait (lambda () qmp-lsp-diagnostics) 20)
          (push (cons 'diagnostics
                      (vconcat (mapcar (lambda (d) (list (cons 'message (plist-get d :message))
                                                          (cons 'code (plist-get d :code))
                                                          (cons 'lnum (plist-get (plist-get (plist-get d :range) :start) :line))))
                                       qmp-lsp-diagnostics)))
                result)
          (ignore-errors (eglot-shutdown server))))
    (error (push (format "%S" err) errors)))
  (push (cons 'errors (vconcat errors)) result)
  (with-temp-file (getenv "QMP_LSP_OUT") (insert (json-encode result)))
  (kill-emacs 0))
