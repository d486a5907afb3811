/**
 * Plain data trees as parsed from YAML: mappings, lists and scalars, addressed by key paths.
 * Keys are written with defineProperty so that a YAML key such as `__proto__` stays an ordinary
 * (and later rejected) key instead of reaching an object's prototype.
 */

export type Mapping = Record<string, unknown>;
export type KeyPath = readonly (string | number)[];

export function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function withKey(target: Mapping, key: string, value: unknown): Mapping {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return target;
}

/** `model.embedding_size`, `bench.batch_sizes[1]`. */
export function formatKeyPath(path: KeyPath): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** Child wins; mappings merge key by key; lists and scalars replace. Inputs are not modified. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isMapping(base) || !isMapping(over)) return over;
  const out: Mapping = {};
  for (const [k, v] of Object.entries(base)) withKey(out, k, v);
  for (const [k, v] of Object.entries(over)) withKey(out, k, Object.hasOwn(base, k) ? deepMerge(base[k], v) : v);
  return out;
}

/** `{a: {b: value}}` for the path `a.b`. */
export function nest(path: readonly string[], value: unknown): unknown {
  return path.reduceRight<unknown>((inner, key) => withKey({}, key, inner), value);
}

export function valueAt(tree: unknown, path: KeyPath): unknown {
  let node = tree;
  for (const key of path) {
    if (Array.isArray(node) && typeof key === 'number') node = node[key];
    else if (isMapping(node) && Object.hasOwn(node, String(key))) node = node[String(key)];
    else return undefined;
  }
  return node;
}

/**
 * Whether this layer decides the value at `path` once layers are merged: it names the path, or
 * an ancestor of it holding a list or scalar (those replace whatever lies beneath).
 */
export function decides(layer: unknown, path: KeyPath): boolean {
  let node = layer;
  for (const key of path) {
    if (!isMapping(node)) return true;
    if (!Object.hasOwn(node, String(key))) return false;
    node = node[String(key)];
  }
  return true;
}
