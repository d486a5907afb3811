import { z } from 'zod';

/**
 * Schema leaves that carry a plain-English description of what they accept. The description is
 * generated from the same bounds that build the check, so an error can say "expected an integer
 * in 16..4096" without the text ever drifting from the rule.
 */

export interface Bounds {
  /** Inclusive lower bound. */
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Exclusive upper bound. */
  below?: number;
}

/** " in 16..4096", " >= 0 and < 1", "" for no bounds. */
export function boundsPhrase({ min, above, max, below }: Bounds): string {
  if (min !== undefined && max !== undefined) return ` in ${min}..${max}`;
  const parts: string[] = [];
  if (min !== undefined) parts.push(`>= ${min}`);
  if (above !== undefined) parts.push(`> ${above}`);
  if (max !== undefined) parts.push(`<= ${max}`);
  if (below !== undefined) parts.push(`< ${below}`);
  return parts.length === 0 ? '' : ` ${parts.join(' and ')}`;
}

function bounded<T extends z.ZodNumber | z.ZodInt>(schema: T, b: Bounds): T {
  let s = schema;
  if (b.min !== undefined) s = s.gte(b.min) as T;
  if (b.above !== undefined) s = s.gt(b.above) as T;
  if (b.max !== undefined) s = s.lte(b.max) as T;
  if (b.below !== undefined) s = s.lt(b.below) as T;
  return s;
}

function note(text: string | undefined): string {
  return text === undefined ? '' : ` (${text})`;
}

export function int(bounds: Bounds = {}, why?: string) {
  return bounded(z.int(), bounds).describe(`an integer${boundsPhrase(bounds)}${note(why)}`);
}

export function num(bounds: Bounds = {}, why?: string) {
  return bounded(z.number(), bounds).describe(`a number${boundsPhrase(bounds)}${note(why)}`);
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values).describe(`one of ${values.join(', ')}`);
}

export function bool() {
  return z.boolean().describe('true or false');
}

export function exactly<const T extends number | string>(value: T, why?: string) {
  return z.literal(value).describe(`${JSON.stringify(value)}${note(why)}`);
}

export function nonEmptyList<T extends z.ZodType>(item: T) {
  return z
    .array(item)
    .min(1)
    .describe(`a non-empty list, each item ${item.description ?? 'valid'}`);
}
