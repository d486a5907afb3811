import * as fs from 'fs';
import * as path from 'path';
import { ConfigError } from './errors';
import { SetOverride, parseSet } from './overrides';
import { baseConfigPath, displayPath, resolveConfigFile } from './paths';
import { Problem, describeProblem, formatValue, problemsOf } from './problems';
import { Config, configSchema } from './schema';
import { KeyPath, decides, deepMerge, isMapping } from './tree';
import { YamlSource, parseYaml } from './yaml-source';

/**
 * Loading a config: a chain of YAML files (each may `extends` another, relative to itself; a file
 * without `extends` builds on the shipped base.yaml), merged deeply (child wins, lists replace),
 * then `--set` overrides in order, then one strict validation. Every problem is reported at the
 * layer that supplied the offending value: its file and line, or its `--set` argument.
 */

interface FileLayer {
  kind: 'file';
  where: string;
  source: YamlSource;
  /** The file's mapping without its `extends` key. */
  data: unknown;
}

interface SetLayer {
  kind: 'set';
  set: SetOverride;
  data: unknown;
}

type Layer = FileLayer | SetLayer;

/**
 * `file`: a path or a shipped config's name; omitted, the shipped base (mobilefacenet).
 * `sets`: `key.path=value` overrides, applied in order after the files.
 */
export function loadConfig(file?: string, sets: readonly string[] = []): Config {
  const root = file === undefined ? baseConfigPath() : resolveConfigFile(file);
  const layers: Layer[] = [
    ...fileChain(root, []),
    ...sets.map(parseSet).map((set): SetLayer => ({ kind: 'set', set, data: set.data })),
  ];
  const merged = layers.reduce<unknown>((acc, layer) => deepMerge(acc, layer.data), {});
  const result = configSchema.safeParse(merged);
  if (result.success) return result.data;
  const problems = problemsOf(configSchema, merged, result.error.issues);
  throw new ConfigError(problems.map((p) => locate(p, layers)));
}

function readText(file: string, where: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new ConfigError(`${where}: cannot read config (${why})`);
  }
}

/** The files from the root of the `extends` chain down to `file`. */
function fileChain(file: string, trail: readonly string[]): FileLayer[] {
  const where = displayPath(file);
  const source = parseYaml(readText(file, where), where);
  const data = source.data ?? {};
  if (!isMapping(data)) {
    throw new ConfigError(`${where}:${source.lineOf([]) ?? 1}: expected a mapping of sections (model, input, ...), got ${formatValue(data)}`);
  }
  const { extends: parentRef, ...own } = data;
  const layer: FileLayer = { kind: 'file', where, source, data: own };
  const parent = parentOf(file, parentRef, source, where);
  if (parent === undefined) return [layer];
  const line = source.lineOf(['extends']) ?? 1;
  if (parent === file || trail.includes(parent)) {
    const cycle = [...trail, file, parent].map(displayPath).join(' -> ');
    throw new ConfigError(`${where}:${line}: extends: cycle ${cycle}`);
  }
  return [...fileChain(parent, [...trail, file]), layer];
}

function parentOf(file: string, ref: unknown, source: YamlSource, where: string): string | undefined {
  const base = baseConfigPath();
  if (ref === undefined) return path.resolve(file) === base ? undefined : base;
  const line = source.lineOf(['extends']) ?? 1;
  if (typeof ref !== 'string' || ref === '') {
    throw new ConfigError(`${where}:${line}: extends: expected a path to another config file, got ${formatValue(ref)}`);
  }
  const target = path.resolve(path.dirname(file), ref);
  if (!fs.existsSync(target)) throw new ConfigError(`${where}:${line}: extends: no such file ${displayPath(target)}`);
  return target;
}

function samePath(a: KeyPath, b: KeyPath): boolean {
  return a.length === b.length && a.every((k, i) => k === b[i]);
}

/** Prefixes a problem with the layer that supplied it. */
function locate(p: Problem, layers: readonly Layer[]): string {
  // A missing key is the fault of whoever supplied its parent mapping.
  const at = p.kind === 'missing' ? p.path.slice(0, -1) : p.path;
  const candidates = at.length === 0 ? layers.filter((l) => l.kind === 'file') : layers;
  const owner = [...candidates].reverse().find((l) => decides(l.data, at)) ?? candidates[candidates.length - 1];
  if (owner.kind === 'set') return `--set ${owner.set.arg}: ${describeProblem(p, !samePath(p.path, owner.set.path))}`;
  const line = owner.source.lineOf(at);
  return `${owner.where}${line === undefined ? '' : `:${line}`}: ${describeProblem(p)}`;
}
