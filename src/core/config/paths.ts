import * as fs from 'fs';
import * as path from 'path';
import { ConfigError } from './errors';

/** Where the shipped configs live, found from this file so it works from `src/` and `dist/` alike. */

export const BASE_CONFIG = 'base.yaml';

export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export function configsDir(): string {
  return path.join(packageRoot(), 'configs');
}

export function baseConfigPath(): string {
  return path.join(configsDir(), BASE_CONFIG);
}

/** Names of the shipped configs, without `.yaml`, sorted. */
export function shippedConfigNames(): string[] {
  return fs
    .readdirSync(configsDir())
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/** A path as the user would like to read it: relative to the working directory when inside it. */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/**
 * A config named on the command line: an existing file, else a shipped config by name
 * (`iresnet50` or `iresnet50.yaml`). Returns an absolute path.
 */
export function resolveConfigFile(nameOrPath: string): string {
  if (fs.existsSync(nameOrPath)) return path.resolve(nameOrPath);
  const shipped = path.join(configsDir(), nameOrPath.endsWith('.yaml') ? nameOrPath : `${nameOrPath}.yaml`);
  if (/^[\w.-]+$/.test(nameOrPath) && fs.existsSync(shipped)) return shipped;
  throw new ConfigError(`${nameOrPath}: no such config file (shipped configs: ${shippedConfigNames().join(', ')})`);
}
