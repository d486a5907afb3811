/** Exit codes, declared once (README, "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** The work failed: a runtime error, a failed verification, some inputs could not be processed. */
  failure: 1,
  /** Bad usage or bad input: a missing or malformed file, an invalid config value or flag. */
  badInput: 2,
  /** Stopped by Ctrl-C (SIGINT) after saving its state (train: resume with --resume); 128 + SIGINT, as shells report it. */
  interrupted: 130,
} as const;
