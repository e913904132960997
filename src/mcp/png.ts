// PNG for the agent's screenshot: QEMU's `screendump` writes PNG itself where the schema has `format` and QEMU
// was built with libpng; otherwise it writes a binary PPM (P6), which this file turns into a PNG with Node's
// zlib (no native dependency). Also a reader of a PNG's header, so callers can say what they return.
import { deflateSync } from 'node:zlib';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The largest image converted (QEMU's displays are far smaller): 16384 × 16384. */
const MAX_SIDE = 16384;

let crcTable: Uint32Array | undefined;

function crc32(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = (crcTable[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

export class ImageFormatError extends Error {}

/**
 * A binary PPM (P6, maxval ≤ 255: what QEMU writes) as PNG (8-bit RGB, filter 0). Throws ImageFormatError for
 * anything else. Linear in the image.
 */
export function ppmToPng(ppm: Uint8Array): Buffer {
  const buf = Buffer.from(ppm.buffer, ppm.byteOffset, ppm.byteLength);
  // Header: "P6" whitespace width whitespace height whitespace maxval one-whitespace, with # comments.
  let i = 0;
  const fields: number[] = [];
  if (buf.length < 2 || buf[0] !== 0x50 || buf[1] !== 0x36) throw new ImageFormatError('not a binary PPM (P6) image');
  i = 2;
  while (fields.length < 3) {
    const ch = buf[i];
    if (ch === undefined) throw new ImageFormatError('the PPM header ends early');
    if (ch === 0x23) { while (i < buf.length && buf[i] !== 0x0a) i++; continue; }
    if (ch === 0x20 || ch === 0x0a || ch === 0x0d || ch === 0x09) { i++; continue; }
    let v = 0;
    let digits = 0;
    while (i < buf.length && (buf[i] as number) >= 0x30 && (buf[i] as number) <= 0x39 && digits < 8) { v = v * 10 + ((buf[i] as number) - 0x30); i++; digits++; }
    if (digits === 0) throw new ImageFormatError('the PPM header is malformed');
    fields.push(v);
  }
  i++; // the single whitespace after maxval
  const [width, height, maxval] = fields as [number, number, number];
  if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) throw new ImageFormatError(`unsupported PPM size ${width}×${height}`);
  if (maxval < 1 || maxval > 255) throw new ImageFormatError(`unsupported PPM maxval ${maxval}`);
  const row = width * 3;
  if (buf.length - i < row * height) throw new ImageFormatError('the PPM pixel data is truncated');
  const raw = Buffer.alloc((row + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (row + 1)] = 0;
    buf.copy(raw, y * (row + 1) + 1, i + y * row, i + (y + 1) * row);
  }
  if (maxval !== 255) for (let k = 0; k < raw.length; k++) if (k % (row + 1) !== 0) raw[k] = Math.round(((raw[k] as number) * 255) / maxval);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** The size in a PNG's IHDR, or undefined when the bytes do not start like a PNG. */
export function pngSize(png: Uint8Array): { width: number; height: number } | undefined {
  const b = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (b.length < 33 || !b.subarray(0, 8).equals(PNG_SIGNATURE) || b.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}
