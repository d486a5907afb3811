import { Command, Errors, Flags, Interfaces } from '@oclif/core';
import { InputError } from '../core/errors';
import { EXIT } from './exitCodes';

/** Node's own file errors are the user's to fix too: missing files, permissions, full disks. */
const FILE_ERROR_CODES: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory, expected a file',
  ENOTDIR: 'a path component is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
};

function describeError(err: Error & { code?: string; path?: string }): { message: string; exit: number } {
  if (err instanceof InputError) return { message: err.message, exit: EXIT.badInput };
  if (err.code && FILE_ERROR_CODES[err.code]) {
    return { message: `${err.path ?? 'file'}: ${FILE_ERROR_CODES[err.code]}`, exit: EXIT.badInput };
  }
  return { message: (err.message || String(err)).split('\n')[0], exit: EXIT.failure };
}

/**
 * Shared behaviour of every command: `--json` (oclif's enableJsonFlag), `--verbose`, and
 * errors turned into one clear line with a documented exit code (stack only with --verbose).
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true;
  static override baseFlags = {
    verbose: Flags.boolean({ description: 'Print stack traces and extra detail on errors.', default: false, helpGroup: 'GLOBAL' }),
  };

  protected flags!: Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;
  protected args!: Interfaces.InferredArgs<T['args']>;
  /** Positional arguments in order (all of them, for commands with `strict = false`). */
  protected positionals: string[] = [];

  override async init(): Promise<void> {
    await super.init();
    const { flags, args, argv } = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      args: this.ctor.args,
      strict: this.ctor.strict,
    });
    this.flags = flags as typeof this.flags;
    this.args = args as typeof this.args;
    this.positionals = argv as string[];
  }

  protected override async catch(err: Error & { oclif?: { exit?: number } }): Promise<unknown> {
    // oclif's own errors (flag parsing, this.exit) already carry their message and exit code.
    if (err.oclif?.exit !== undefined) return super.catch(err as Errors.CLIError);
    if (this.argv.includes('--verbose') && err.stack) process.stderr.write(`${err.stack}\n`);
    const { message, exit } = describeError(err);
    // Printed here rather than by oclif, which wraps long messages over several lines.
    if (this.jsonEnabled()) this.logJson({ error: { message, exitCode: exit } });
    else process.stderr.write(`Error: ${message}\n`);
    return this.exit(exit);
  }
}
