import { z } from 'zod';
import { DEFAULT_MARGIN, MARGIN_PARAMETER, SingleMarginType } from '../../heads/margins';
import { HEAD_TYPES, HeadSpec, MARGIN_GUARDS } from '../../heads/types';
import { num, oneOf } from '../fields';

/**
 * The margin head. Flat in YAML, so that files and --set merge key by key; `headSpec` turns it
 * into the per-type spec. `m` is the margin of whichever single-margin head is chosen (the
 * seed sweeps it), empty for that head's usual value; `combined` reads m1, m2, m3 instead.
 */

const SINGLE = Object.keys(MARGIN_PARAMETER) as SingleMarginType[];

/** Valid values of `m` per head, checked after the type is known. */
const M_RANGES: Record<SingleMarginType, { ok: (m: number) => boolean; text: string }> = {
  sphereface: { ok: (m) => m >= 1, text: 'sphereface m1 >= 1' },
  cosface: { ok: (m) => m > 0 && m < 1, text: 'cosface m3 in (0, 1)' },
  arcface: { ok: (m) => m > 0 && m < Math.PI, text: 'arcface m2 in (0, pi)' },
};

const marginText = SINGLE.map((t) => `${M_RANGES[t].text} (default ${DEFAULT_MARGIN[t]})`).join(', ');

export const headSection = z
  .strictObject({
    type: oneOf(HEAD_TYPES),
    s: num({ above: 0 }, 'the scale of the cosine logits; unused by softmax'),
    m: num()
      .nullable()
      .describe(`the margin of the chosen head: ${marginText}; empty for the default; softmax and combined take none (combined: m1, m2, m3)`),
    m1: num({ above: 0 }, 'combined: multiplies theta'),
    m2: num({ min: 0, below: Math.PI }, 'combined: added to theta, radians'),
    m3: num({ min: 0, below: 1 }, 'combined: subtracted from cos(theta)'),
    label_smoothing: num({ min: 0, below: 1 }),
    guard: oneOf(MARGIN_GUARDS),
  })
  .superRefine((head, ctx) => {
    if (head.m === null) return;
    const single = SINGLE.find((t) => t === head.type);
    if (single === undefined || !M_RANGES[single].ok(head.m)) ctx.addIssue({ code: 'custom', path: ['m'], message: 'bad margin', input: head.m });
  });

export type HeadConfig = z.infer<typeof headSection>;

export function headSpec(head: HeadConfig): HeadSpec {
  const labelSmoothing = head.label_smoothing;
  const common = { s: head.s, labelSmoothing };
  const m = (type: SingleMarginType) => head.m ?? DEFAULT_MARGIN[type];
  switch (head.type) {
    case 'softmax':
      return { type: 'softmax', labelSmoothing };
    case 'sphereface':
      return { type: 'sphereface', ...common, m1: m('sphereface'), guard: head.guard };
    case 'cosface':
      return { type: 'cosface', ...common, m3: m('cosface') };
    case 'arcface':
      return { type: 'arcface', ...common, m2: m('arcface'), guard: head.guard };
    case 'combined':
      return { type: 'combined', ...common, m1: head.m1, m2: head.m2, m3: head.m3, guard: head.guard };
  }
}
