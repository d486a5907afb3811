import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/baseCommand';
import { engineOptions } from '../cli/engineConfig';
import { EXIT } from '../cli/exitCodes';
import { createProgress } from '../cli/progress';
import { configFlags, engineFlags } from '../cli/sharedFlags';
import { loadConfig } from '../core/config';
import { resolveConfigFile } from '../core/config/paths';
import { StepMetrics } from '../core/train/metrics';
import { RunInfo, TrainResult, train } from '../core/train/trainer';
import { EXPORT_TOLERANCE } from './export-onnx';

const count = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));

function startLine(i: RunInfo): string {
  const from = i.resumedFrom ? `resuming ${i.resumedFrom} at step ${i.startStep}` : `from ${i.origin}`;
  return (
    `training ${i.backbone} (${from}) on ${i.dataset.source}: ${i.dataset.images} images, ${i.dataset.classes} classes; ` +
    `batch ${i.batchSize} x ${i.accumulationSteps}, ${i.stepsPerEpoch} steps/epoch, ${i.totalSteps} steps; ` +
    `${count(i.trainedValues)} parameters trained, ${count(i.frozenValues)} frozen; ${i.workers === 0 ? 'decoding inline' : `${i.workers} data worker${i.workers === 1 ? '' : 's'}`} -> ${i.outputDir}`
  );
}

function stepDetail(m: StepMetrics, rate: number): string {
  return `loss ${m.loss.toFixed(4)} acc ${(100 * m.accuracy).toFixed(1)}% lr ${m.lr.toPrecision(3)} ${rate.toFixed(1)} img/s epoch ${m.epoch + 1}`;
}

export default class Train extends BaseCommand<typeof Train> {
  static override summary = 'Train a backbone with a margin head from a YAML config; checkpoints, metrics, ONNX export.';
  static override description =
    'Trains on onnxruntime through the project\'s own autodiff: one session.run per micro-batch returns the loss, every gradient and the ' +
    'BatchNorm statistics. Per-step metrics go to OUTPUT_DIR/metrics.jsonl; OUTPUT_DIR/last.safetensors is written every ' +
    'train.checkpoint_every steps and at the end (atomically); --resume continues it exactly. Ctrl-C saves a checkpoint and exits with ' +
    'code 130; a second Ctrl-C exits at once. A NaN/Inf loss or gradient stops the run (exit 1) naming the step and keeping the last good ' +
    'checkpoint. At the end the backbone goes to OUTPUT_DIR/final.safetensors and, through export-onnx\'s code path, OUTPUT_DIR/model.onnx. ' +
    'Fine-tune with train.init_from (a checkpoint or an ONNX backbone) and train.freeze.';
  static override examples = [
    '<%= config.bin %> synth --out data/synth && <%= config.bin %> train -c train-tiny-synth',
    '<%= config.bin %> train -c mobilefacenet --set data.train_dir=faces/ --set train.epochs=30 -o runs/mbf',
    '<%= config.bin %> train -c mobilefacenet -o runs/mbf --resume',
    '<%= config.bin %> train -c tiny --set train.init_from=runs/mbf/final.safetensors --set train.freeze=[backbone.conv1.] --json',
  ];
  static override flags = {
    ...configFlags,
    ...engineFlags,
    'output-dir': Flags.string({ char: 'o', description: 'Where the run\'s files go (default: train.output_dir).' }),
    resume: Flags.boolean({ description: 'Continue the run in the output folder from its last checkpoint (default: train.resume).', allowNo: true }),
  };

  async run(): Promise<TrainResult> {
    const { flags } = this;
    const sets = flags['output-dir'] ? [...flags.set, `train.output_dir=${JSON.stringify(flags['output-dir'])}`] : flags.set;
    const config = loadConfig(flags.config ? resolveConfigFile(flags.config) : undefined, sets);
    const human = !this.jsonEnabled();
    const say = (line: string) => human && process.stderr.write(`${line}\n`);
    const progress = createProgress({ json: !human });

    const controller = new AbortController();
    const onSigint = () => {
      if (controller.signal.aborted) process.exit(EXIT.interrupted);
      controller.abort();
      progress.stop();
      say('interrupt: finishing the current step and saving a checkpoint (Ctrl-C again to quit without it)');
    };
    process.on('SIGINT', onSigint);
    let rate = 0;
    let result: TrainResult;
    try {
      result = await train(
        config,
        { engine: engineOptions(config.engine, flags), resume: flags.resume, signal: controller.signal },
        {
          onStart: (info) => say(startLine(info)),
          onStep: (m) => {
            // Smoothed for display; the log keeps each step's own figure.
            rate = rate === 0 ? m.imagesPerSecond : 0.9 * rate + 0.1 * m.imagesPerSecond;
            progress.update({ label: 'train', done: m.step, total: m.totalSteps, detail: stepDetail(m, rate) });
          },
          onSkip: (s) => say(`skipped an image that cannot be decoded: ${s.message}`),
          onNote: (text) => say(`note: ${text}`),
        },
      );
    } finally {
      progress.stop();
      process.removeListener('SIGINT', onSigint);
    }
    if (human) this.report(result);
    if (result.onnx?.verification && !(result.onnx.verification.maxRelativeError <= EXPORT_TOLERANCE)) {
      this.error(`export verification failed: max relative error ${result.onnx.verification.maxRelativeError} exceeds ${EXPORT_TOLERANCE}`, { exit: EXIT.failure });
    }
    if (result.status === 'interrupted') {
      if (!human) this.logJson(result);
      this.exit(EXIT.interrupted);
    }
    return result;
  }

  private report(r: TrainResult): void {
    const l = r.loss;
    const t = r.timing;
    const f = (x: number | null, d = 4) => (x === null ? '-' : x.toFixed(d));
    if (r.status === 'interrupted') {
      this.log(`interrupted after step ${r.step} of ${r.totalSteps}: saved ${r.checkpoint}; continue with --resume`);
    } else {
      this.log(`trained steps ${r.startStep + 1}..${r.step} of ${r.totalSteps}`);
    }
    if (l.steps > 0) {
      this.log(
        `loss ${f(l.first)} -> ${f(l.last)} (mean of first/last ${Math.min(10, l.steps)} steps: ${f(l.firstMean)} -> ${f(l.lastMean)}), ` +
          `training accuracy ${f(l.lastAccuracy === null ? null : 100 * l.lastAccuracy, 1)}%`,
      );
      this.log(
        `${r.imagesPerSecond.toFixed(1)} images/s; time: setup ${t.setupS.toFixed(1)} s, data wait ${t.dataS.toFixed(1)} s, engine ${t.engineS.toFixed(1)} s, ` +
          `optimizer ${t.optimizerS.toFixed(1)} s, checkpoints ${t.checkpointS.toFixed(1)} s, export ${t.exportS.toFixed(1)} s`,
      );
    }
    if (r.skipped.length > 0) this.log(`skipped ${r.skipped.length} images that cannot be decoded: ${r.skipped.map((s) => s.path).join(', ')}`);
    this.log(`metrics: ${r.metrics}`);
    this.log(`checkpoint: ${r.checkpoint}${r.finalCheckpoint ? `; model checkpoint: ${r.finalCheckpoint}` : ''}`);
    if (r.onnx) {
      const v = r.onnx.verification;
      this.log(`onnx: ${r.onnx.path}${v ? ` (verified: max relative error ${v.maxRelativeError.toExponential(2)})` : ''}`);
    }
  }
}
