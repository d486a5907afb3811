import { InputError } from '../errors';

/**
 * A config that cannot be used. `message` is one line that names where the problem is (file and
 * line, or the `--set` argument), the key path and what was expected; `problems` lists them all.
 */
export class ConfigError extends InputError {
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    const more = list.length > 1 ? ` (and ${list.length - 1} more)` : '';
    super(`${list[0]}${more}`);
    this.problems = list;
  }
}
