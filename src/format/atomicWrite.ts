// Replacing a file so that a reader (or a crash, a full disk, a SIGKILL) never sees half of it: the one way
// our code writes a file that may already hold the user's data (`qmp-notebook test --update`, `--junit`, the
// caches). The new text goes to a temporary file beside the target (same directory, so same file system),
// created private (0600, exclusive), is written whole and fsynced, gets the mode (and, as root, the owner)
// of the file it replaces, and is renamed over it; the directory is fsynced so the rename itself survives a
// crash. On any failure the temporary file is removed and the original is untouched.
//
// A symlinked target is followed: the file the link points to is replaced (the link stays a link), as an
// editor saving through a link does.
import {
  closeSync, fchmodSync, fchownSync, fsyncSync, lstatSync, openSync, readlinkSync, realpathSync, renameSync, statSync,
  unlinkSync, writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** Mode of a file that did not exist before (an existing file keeps its own). Default 0600. */
  mode?: number;
}

/** The file a path names after following symlinks; for a dangling link, where it points. */
function resolveTarget(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    // Not there yet, or a link to a file that does not exist yet: follow the links by hand (bounded).
    let p = path.resolve(file);
    for (let i = 0; i < 40; i++) {
      let st;
      try { st = lstatSync(p); } catch { return p; }
      if (!st.isSymbolicLink()) return p;
      p = path.resolve(path.dirname(p), readlinkSync(p));
    }
    return p;
  }
}

/**
 * Replaces `file` with `data` atomically (see the header). `data` may be a sequence of chunks, written one by
 * one, so a large text never has to exist as one string. Throws the file system's error (ENOSPC, EACCES…)
 * with the original file left as it was.
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array | Iterable<string | Uint8Array>, options: AtomicWriteOptions = {}): void {
  const target = resolveTarget(file);
  let old: { mode: number; uid: number; gid: number } | undefined;
  try {
    const st = statSync(target);
    old = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch {
    old = undefined;
  }
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  let renamed = false;
  try {
    const chunks = typeof data === 'string' || data instanceof Uint8Array ? [data] : data;
    for (const chunk of chunks) writeAll(fd, typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    if (old) {
      if (typeof process.getuid === 'function' && process.getuid() === 0) {
        try { fchownSync(fd, old.uid, old.gid); } catch { /* keep ours */ }
      }
      fchmodSync(fd, old.mode);
    } else {
      fchmodSync(fd, options.mode ?? 0o600);
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, target);
    renamed = true;
  } finally {
    if (!renamed) {
      try { closeSync(fd); } catch { /* already closed */ }
      try { unlinkSync(tmp); } catch { /* gone */ }
    }
  }
  // Make the rename durable; a directory that cannot be opened or synced (some file systems) is no error.
  try {
    const d = openSync(dir, 'r');
    try { fsyncSync(d); } finally { closeSync(d); }
  } catch { /* best effort */ }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}
