import { z } from 'zod';
import { KeyPath, formatKeyPath, isMapping, valueAt } from './tree';

/**
 * Turns zod's issues into problems a person can act on: the key path, and what was expected in
 * words taken from the schema itself (see fields.ts), rather than zod's generic English.
 */

export type Problem =
  | { kind: 'unknown'; path: KeyPath; allowed: string[] }
  | { kind: 'missing'; path: KeyPath; expected: string }
  | { kind: 'invalid'; path: KeyPath; expected: string; got: unknown };

/** The sub-schema at `path`, through objects, arrays and optional/default wrappers. */
export function schemaAt(schema: z.ZodType, path: KeyPath): z.ZodType | undefined {
  let s: z.ZodType | undefined = schema;
  for (const key of path) {
    s = s && unwrap(s);
    if (s instanceof z.ZodObject && typeof key === 'string') s = (s.shape as Record<string, z.ZodType>)[key];
    else if (s instanceof z.ZodArray && typeof key === 'number') s = s.element as z.ZodType;
    else return undefined;
  }
  return s;
}

function unwrap(s: z.ZodType): z.ZodType {
  let inner = s;
  while (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable || inner instanceof z.ZodDefault) {
    inner = inner.unwrap() as z.ZodType;
  }
  return inner;
}

function describe(s: z.ZodType | undefined): string | undefined {
  if (!s) return undefined;
  if (s.description) return s.description;
  const inner = unwrap(s);
  if (inner.description) return inner.description;
  if (inner instanceof z.ZodObject) return `a mapping with keys ${Object.keys(inner.shape).join(', ')}`;
  return undefined;
}

function keysOf(s: z.ZodType | undefined): string[] {
  const inner = s && unwrap(s);
  return inner instanceof z.ZodObject ? Object.keys(inner.shape) : [];
}

function toKeyPath(path: readonly PropertyKey[]): KeyPath {
  return path.map((k) => (typeof k === 'number' ? k : String(k)));
}

export function problemsOf(schema: z.ZodType, data: unknown, issues: readonly z.core.$ZodIssue[]): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    const path = toKeyPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const allowed = keysOf(schemaAt(schema, path));
      return issue.keys.map((key) => ({ kind: 'unknown', path: [...path, key], allowed }));
    }
    const expected = describe(schemaAt(schema, path)) ?? issue.message;
    const parent = valueAt(data, path.slice(0, -1));
    const last = path[path.length - 1];
    if (path.length > 0 && isMapping(parent) && !Object.hasOwn(parent, String(last))) {
      return [{ kind: 'missing', path, expected }];
    }
    return [{ kind: 'invalid', path, expected, got: valueAt(data, path) }];
  });
}

/** A value as it would be quoted in a message: strings in quotes, long values cut short. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** One line without location; `withPath: false` drops the leading key path of an invalid value. */
export function describeProblem(p: Problem, withPath = true): string {
  const key = formatKeyPath(p.path);
  switch (p.kind) {
    case 'unknown':
      return `unknown key ${key} (expected one of: ${p.allowed.join(', ')})`;
    case 'missing':
      return `missing key ${key} (expected ${p.expected})`;
    case 'invalid':
      return `${withPath ? `${key}: ` : ''}expected ${p.expected}, got ${formatValue(p.got)}`;
  }
}
