import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { RocCurve } from '../metrics/roc';
import { rocSvg, svgToPng } from '../metrics/rocPlot';
import { writeFileAtomic } from '../util/atomic';

/**
 * The files an evaluation leaves in its output folder: `results.json` (the same object
 * `eval --json` prints), the ROC curve as `roc.svg` and `roc.png`, and its points as `roc.csv`
 * (fpr, tpr, threshold) for anyone who wants to plot it their own way.
 */

export interface EvalOutputs {
  results: string;
  rocSvg: string;
  rocPng: string;
  rocCsv: string;
}

/** What the writer needs from a result: its label and headline numbers. */
interface Summary {
  model: string;
  data: string;
  auc: number;
  eer: number;
  outputs: EvalOutputs | null;
}

export function rocCsv(roc: RocCurve): string {
  return ['fpr,tpr,threshold', ...roc.points.map((p) => `${p.fpr},${p.tpr},${p.threshold}`)].join('\n') + '\n';
}

function ensureFolder(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new InputError(`--out ${dir}: cannot create the folder (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Writes the four files atomically; `result.outputs` is filled in before results.json is written. */
export async function writeEvalOutputs<T extends Summary>(dir: string, result: T, roc: RocCurve): Promise<EvalOutputs> {
  ensureFolder(dir);
  const outputs: EvalOutputs = {
    results: path.join(dir, 'results.json'),
    rocSvg: path.join(dir, 'roc.svg'),
    rocPng: path.join(dir, 'roc.png'),
    rocCsv: path.join(dir, 'roc.csv'),
  };
  const svg = rocSvg([{ label: result.model, roc, auc: result.auc, eer: result.eer }], { title: `ROC: ${result.model} on ${path.basename(result.data)}` });
  writeFileAtomic(outputs.rocSvg, svg);
  writeFileAtomic(outputs.rocPng, await svgToPng(svg));
  writeFileAtomic(outputs.rocCsv, rocCsv(roc));
  writeFileAtomic(outputs.results, `${JSON.stringify({ ...result, outputs }, null, 2)}\n`);
  return outputs;
}
