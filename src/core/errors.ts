/**
 * Errors the user can fix (bad file, bad key, bad value) extend InputError; the CLI reports
 * them as one line with exit code 2. Anything else is a failure (exit code 1).
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
