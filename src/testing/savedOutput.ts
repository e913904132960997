// Saved-output text: what goes into a ```qmp-output block. The client's own ids are elided (ids the author
// wrote are kept) and volatile values are written in their stable form, so that saving the same session twice
// gives the same bytes and a saved session only changes in a diff when QEMU's answer changed.
import { maskMessage, maskText, type Mask, type MaskOptions } from './masks';
import { notebookRules } from '../run/rules';

/** One saved output, as `src/format` keeps it (structurally the same type). */
export type OutputLike =
  | { kind: 'message'; direction: '<-' | '->'; json: string }
  | { kind: 'text'; text: string };

/** The outputs in their stable form (see masks.ts). Idempotent. */
export function stableOutputs<T extends OutputLike>(outputs: readonly T[], opts: MaskOptions = {}): T[] {
  return outputs.map((o) => (o.kind === 'message'
    ? { ...o, json: maskMessage(o.json, opts) }
    : { ...o, text: maskText(o.text, opts) }));
}

/** The masks of a notebook's front matter that parse; bad ones are reported by `qmp-notebook test`. */
export function validMasks(texts: readonly string[] | undefined): Mask[] {
  return notebookRules({ masks: [...(texts ?? [])] }).rules.masks;
}
