import { SingleBar, Presets } from 'cli-progress';

/**
 * Progress for long work: a cli-progress bar on stderr when it is a TTY, otherwise a plain
 * line at most every few seconds (cli-progress's own non-TTY mode repaints too often), and
 * nothing at all under --json.
 */

export interface ProgressUpdate {
  /** What is being worked on, e.g. "mobilefacenet batch 32". */
  label: string;
  done: number;
  total: number;
  /** Extra fields shown after the counts, e.g. loss or images/s. */
  detail?: string;
}

export interface ProgressReporter {
  update(u: ProgressUpdate): void;
  stop(): void;
}

const PLAIN_INTERVAL_MS = 5000;

export function createProgress(opts: { json: boolean; stream?: NodeJS.WriteStream }): ProgressReporter {
  const stream = opts.stream ?? process.stderr;
  if (opts.json) return { update: () => {}, stop: () => {} };
  if (stream.isTTY) return ttyProgress(stream);
  return plainProgress(stream);
}

function ttyProgress(stream: NodeJS.WriteStream): ProgressReporter {
  const bar = new SingleBar(
    { stream, format: '{label} [{bar}] {value}/{total} {detail}', hideCursor: true, clearOnComplete: true },
    Presets.shades_classic,
  );
  let label: string | undefined;
  return {
    update(u) {
      if (u.label !== label) {
        if (label !== undefined) bar.stop();
        label = u.label;
        bar.start(u.total, u.done, { label: u.label, detail: u.detail ?? '' });
      } else {
        bar.update(u.done, { detail: u.detail ?? '' });
      }
    },
    stop() {
      if (label !== undefined) bar.stop();
      label = undefined;
    },
  };
}

function plainProgress(stream: NodeJS.WriteStream): ProgressReporter {
  let last = 0;
  return {
    update(u) {
      const now = Date.now();
      if (now - last < PLAIN_INTERVAL_MS && u.done < u.total) return;
      last = now;
      stream.write(`${u.label}: ${u.done}/${u.total}${u.detail ? ` ${u.detail}` : ''}\n`);
    },
    stop() {},
  };
}
