import * as fs from 'fs';
import * as path from 'path';

/** How to start a worker thread's entry module: its file and the Node flags it needs. */
export interface WorkerScript {
  file: string;
  execArgv: string[];
}

/**
 * The compiled worker `<dir>/<name>.js`, or under ts-node (tests, bin/dev.js) its TypeScript
 * source, which the worker then loads through ts-node itself.
 */
export function workerScript(dir: string, name: string): WorkerScript {
  const compiled = path.join(dir, `${name}.js`);
  if (fs.existsSync(compiled)) return { file: compiled, execArgv: [] };
  return { file: path.join(dir, `${name}.ts`), execArgv: ['--require', 'ts-node/register/transpile-only'] };
}
