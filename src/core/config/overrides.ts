import { parseDocument } from 'yaml';
import { ConfigError } from './errors';
import { nest } from './tree';

/** One `--set key.path=value`: the value is YAML, so `[1,8]`, `256`, `true` and `cuda` all work. */
export interface SetOverride {
  arg: string;
  path: string[];
  /** `{key: {path: value}}`, ready to merge over the files. */
  data: unknown;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseSet(arg: string): SetOverride {
  const eq = arg.indexOf('=');
  if (eq < 0) throw new ConfigError(`--set ${arg}: expected key.path=value, e.g. --set model.embedding_size=256`);
  const keyText = arg.slice(0, eq);
  const path = keyText.split('.');
  if (!path.every((k) => KEY.test(k))) {
    throw new ConfigError(`--set ${arg}: "${keyText}" is not a key path (expected dotted keys, e.g. model.embedding_size)`);
  }
  const doc = parseDocument(arg.slice(eq + 1), { prettyErrors: false });
  const error = doc.errors[0];
  if (error) throw new ConfigError(`--set ${arg}: the value is not valid YAML (${error.message})`);
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (err) {
    throw new ConfigError(`--set ${arg}: the value is not valid YAML (${(err as Error).message})`);
  }
  return { arg, path, data: nest(path, value) };
}
