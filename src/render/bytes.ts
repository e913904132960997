// Byte counts as people read them, in one place: the block graph and the explorer show sizes with it, a job's
// progress line (src/run/recordText.ts) its speed and amount. Pure and dependency-free, so that every layer that
// shows bytes may import it (src/run/ included: the arrows of docs/ARCHITECTURE.md allow run → render for it).

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/**
 * Bytes in binary units: `512 B`, `64 MiB`, `1.5 GiB`. Whole numbers of a unit drop the decimal, others keep one.
 * With `steady`, one decimal stays from KiB up (`16.0 MiB`): for a figure watched while it changes (a job's speed,
 * bytes done), so that its width does not jump between `16 MiB` and `16.1 MiB` and a moving figure shows it moving.
 * Bytes are rounded to a whole number.
 */
export function humanSize(bytes: number, options: { steady?: boolean } = {}): string {
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${Math.round(bytes)} B`;
  return `${!options.steady && Number.isInteger(v) ? v : v.toFixed(1)} ${UNITS[u]}`;
}
