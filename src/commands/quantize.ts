import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/baseCommand';
import { engineOptions } from '../cli/engineConfig';
import { floatModelArgs, floatModelFlags, floatModelRequest, parseNumberFlag } from '../cli/floatModelFlags';
import { createProgress } from '../cli/progress';
import { Table, formatBytes, renderText } from '../cli/table';
import { loadConfig } from '../core/config';
import { resolveConfigFile } from '../core/config/paths';
import { DYNAMIC_FORMS } from '../core/deploy/quantize/dynamic';
import { QuantizeReport, runQuantize } from '../core/deploy/quantize/pipeline';
import { QUANTIZABLE_OPS } from '../core/deploy/quantize/qdq';
import { QUANTIZE_MODES } from '../core/deploy/quantize/quantize';
import { InputError } from '../core/errors';

function parseBatchSizes(value: string): number[] {
  const sizes = value.split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new InputError(`--batch-sizes ${value}: expected a comma-separated list of integers >= 1`);
  return sizes;
}

function parseOps(value: string): string[] {
  const ops = value.split(',').map((s) => s.trim());
  const unknown = ops.filter((op) => !QUANTIZABLE_OPS.includes(op));
  if (unknown.length > 0) throw new InputError(`--ops ${value}: ${unknown.join(', ')} cannot be quantized (expected some of ${QUANTIZABLE_OPS.join(', ')})`);
  return ops;
}

function reportTable(r: QuantizeReport): Table {
  const rows: string[][] = [
    ['mode', Object.entries(r.settings).map(([k, v]) => (k === 'mode' ? String(v) : `${k.replace(/_/g, ' ')} ${String(v)}`)).join(', ')],
    ['size', `${formatBytes(r.sizeBytes.before)} -> ${formatBytes(r.sizeBytes.after)} (${(r.sizeBytes.ratio * 100).toFixed(1)}%)`],
  ];
  if (r.cosine) rows.push(['cosine', `mean ${r.cosine.mean.toFixed(4)}, min ${r.cosine.min.toFixed(4)} over ${r.cosine.images} held-out images (${r.cosine.source})`]);
  if (r.verification) {
    const v = r.verification;
    rows.push(['accuracy', `${(v.before.accuracy * 100).toFixed(2)}% -> ${(v.after.accuracy * 100).toFixed(2)}% (drop ${v.dropPoints.toFixed(2)} points, ${v.pairs} pairs of ${v.source})`]);
  }
  for (const s of r.speed?.speedup ?? []) {
    const before = r.speed?.before.throughput.find((t) => t.batch === s.batch)?.imagesPerSecond ?? NaN;
    const after = r.speed?.after.throughput.find((t) => t.batch === s.batch)?.imagesPerSecond ?? NaN;
    rows.push([`img/s b${s.batch}`, `${before.toFixed(1)} -> ${after.toFixed(1)} (${s.ratio.toFixed(2)}x)`]);
  }
  if (r.speed) rows.push(['latency b1', `p50 ${r.speed.before.latencyMs.p50.toFixed(2)} -> ${r.speed.after.latencyMs.p50.toFixed(2)} ms`]);
  for (const f of r.details.leftInFloat) rows.push(['left in float', `${f.opType} x${f.count}: ${f.reason}`]);
  return { header: ['', r.output], rows };
}

export default class Quantize extends BaseCommand<typeof Quantize> {
  static override summary = 'Quantize a float model (int8 static or dynamic, or float16) and report what it costs in accuracy and gains in size and speed.';
  static override description =
    'MODEL is any float ONNX file (ours or a third party\'s), a float .tflite, pretrained:mobilefacenet, a .safetensors checkpoint, a .yaml config or a shipped config name. ' +
    'static: int8 in QDQ form (Conv, Gemm/MatMul, Add, pooling; per-channel weights), activation ranges calibrated on --calibration face crops, after cross-layer equalization; ' +
    'dynamic: int8 MatMul/Gemm weights, activations quantized at run time; float16: for GPU targets. ' +
    'Input and output names and the metadata are kept. The report gives size before and after, the cosine between float and quantized embeddings on held-out faces, ' +
    'verification accuracy before and after (--eval) and speed before and after, measured in the same run.';
  static override examples = [
    '<%= config.bin %> quantize mbf.onnx -o mbf.int8.onnx --calibration faces/aligned --eval faces/eval',
    '<%= config.bin %> quantize pretrained:mobilefacenet -o mfn.int8.onnx --calibration ../shared/data/faces/orl --method entropy',
    '<%= config.bin %> quantize resnet50 -o r50.dyn.onnx --mode dynamic --no-bench',
  ];
  static override args = floatModelArgs;
  static override flags = {
    ...floatModelFlags,
    output: Flags.string({ char: 'o', description: 'Where to write the quantized .onnx file.', required: true }),
    mode: Flags.option({ options: QUANTIZE_MODES, description: 'static, dynamic or float16 (default: quantize.mode).' })(),
    calibration: Flags.string({ description: 'Folder of aligned face crops: calibration images (static), the rest held out for the cosine check.' }),
    'held-out': Flags.string({ description: 'Folder of face crops for the cosine check (default: the calibration images not used to calibrate).' }),
    eval: Flags.string({ description: 'Verification set for accuracy before/after: an ImageFolder (one folder per identity) or an insightface .bin.' }),
    percentile: Flags.string({ description: 'Kept share for --method percentile, e.g. 99.99 (default: quantize.percentile).' }),
    symmetric: Flags.boolean({ description: 'Symmetric activation ranges (default: quantize.symmetric).', allowNo: true }),
    'activation-type': Flags.option({ options: ['uint8', 'int8'] as const, description: 'Activation type (default: quantize.activation_type).' })(),
    'per-channel': Flags.boolean({ description: 'One weight scale per output channel (default: quantize.per_channel).', allowNo: true }),
    'reduce-range': Flags.boolean({ description: '7-bit weights for CPUs without VNNI (default: quantize.reduce_range).', allowNo: true }),
    ops: Flags.string({ description: `Op types to quantize (static), comma-separated (default: ${QUANTIZABLE_OPS.join(',')}).` }),
    'rewrite-prelu': Flags.boolean({ description: 'Write PReLU as depthwise convolutions around a Relu so that it runs in int8 (static; default on).', allowNo: true, default: true }),
    'quantize-outputs': Flags.boolean({ description: 'Also quantize the graph outputs (static; default: the embedding stays float).', default: false }),
    'dynamic-form': Flags.option({ options: DYNAMIC_FORMS, description: 'dynamic mode: integer (MatMulInteger) or qdq (default: quantize.dynamic_form).' })(),
    bench: Flags.boolean({ description: 'Measure speed before and after in this run (default on).', allowNo: true, default: true }),
    'batch-sizes': Flags.string({ description: 'Batch sizes for the speed comparison (default: bench.batch_sizes).' }),
  };

  async run(): Promise<QuantizeReport> {
    const { flags } = this;
    if (!flags.output.toLowerCase().endsWith('.onnx')) throw new InputError(`--output ${flags.output}: expected a path ending in .onnx`);
    const config = loadConfig(flags.config ? resolveConfigFile(flags.config) : undefined, flags.set);
    const q = config.quantize;
    const engine = engineOptions(config.engine, flags);
    const percentile = parseNumberFlag('percentile', flags.percentile) ?? q.percentile;
    if (!(percentile > 50 && percentile <= 100)) throw new InputError(`--percentile ${flags.percentile}: expected a number in (50, 100]`);
    const progress = createProgress({ json: this.jsonEnabled() });
    const report = await runQuantize(
      {
        options: {
          mode: flags.mode ?? q.mode,
          static: {
            activations: { type: flags['activation-type'] ?? q.activation_type, symmetric: flags.symmetric ?? q.symmetric },
            perChannel: flags['per-channel'] ?? q.per_channel,
            reduceRange: flags['reduce-range'] ?? q.reduce_range,
            ops: flags.ops ? parseOps(flags.ops) : QUANTIZABLE_OPS,
            quantizeOutputs: flags['quantize-outputs'],
            rewritePrelu: flags['rewrite-prelu'],
          },
          calibration: { method: flags.method ?? q.method, percentile, symmetric: flags.symmetric ?? q.symmetric, bins: 2048 },
          dynamic: { form: flags['dynamic-form'] ?? q.dynamic_form, reduceRange: flags['reduce-range'] ?? q.reduce_range },
          equalize: flags.equalize ?? q.equalize,
          engine,
          batchSize: q.batch_size,
        },
        ...floatModelRequest(this.args.model, flags, config),
        heldOutDir: flags['held-out'],
        evalSet: flags.eval,
        bench: flags.bench
          ? {
              batchSizes: flags['batch-sizes'] ? parseBatchSizes(flags['batch-sizes']) : config.bench.batch_sizes,
              warmup: config.bench.warmup,
              repeats: config.bench.repeats,
              latencyIterations: config.bench.latency_iterations,
              engine,
              seed: config.model.seed,
            }
          : undefined,
      },
      (p) => progress.update({ label: `quantize: ${p.stage}`, done: p.done, total: p.total, detail: p.detail }),
    );
    progress.stop();
    if (!this.jsonEnabled()) {
      this.log(renderText(reportTable(report)));
      for (const note of report.notes) this.log(`note: ${note}`);
    }
    return report;
  }
}
