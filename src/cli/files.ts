// Files the CLI writes for the user (a recorded shell session, the shell's history): private (0600) and
// replaced atomically (a temporary file beside the target, then a rename), so a crash or a full disk never
// leaves half a file where a good one was.
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/** Writes `text` to `file` atomically, mode 0600. Throws the file system's error (the temporary file is removed). */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, text, { encoding: 'utf8', mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
