import { Flags } from '@oclif/core';
import * as path from 'node:path';
import { BaseCommand } from '../cli/baseCommand';
import { engineOptions } from '../cli/engineConfig';
import { EXIT } from '../cli/exitCodes';
import { floatModelArgs, floatModelFlags, floatModelRequest } from '../cli/floatModelFlags';
import { createProgress } from '../cli/progress';
import { formatBytes } from '../cli/table';
import { loadConfig } from '../core/config';
import { resolveConfigFile } from '../core/config/paths';
import { ExportTfliteReport, SIGNATURE_KEY, runExportTflite } from '../core/deploy/tflite/export';
import { InputError } from '../core/errors';

/** Float exports must match the source graph this closely (relative to the output's scale). */
export const TFLITE_FLOAT_TOLERANCE = 1e-4;

export default class ExportTflite extends BaseCommand<typeof ExportTflite> {
  static override summary = 'Export a model to TFLite (float32, or full-integer int8 calibrated on faces), with a signature and metadata, verified after writing.';
  static override description =
    'MODEL is any float ONNX file, a float .tflite, pretrained:mobilefacenet, a .safetensors checkpoint, a .yaml config or a shipped config name. ' +
    'The graph is converted from NCHW to NHWC (CONV_2D, DEPTHWISE_CONV_2D, PRELU, ADD, MUL, FULLY_CONNECTED, RESHAPE, MEAN, L2_NORMALIZATION, PAD, MAX_POOL_2D, ...); ' +
    'image inputs become [N,H,W,3]. --int8 writes int8 weights and activations (per-channel conv weights, calibrated on --calibration face crops) behind float32 input and output. ' +
    `The file has a '${SIGNATURE_KEY}' signature and an 'arcface_metadata' JSON block (input size, colour order, mean/std, layout, embedding size). ` +
    "Verification reads the file back with the project's TFLite reader and, for float files, runs it against the source graph.";
  static override examples = [
    '<%= config.bin %> export-tflite mbf.onnx -o mbf.tflite',
    '<%= config.bin %> export-tflite pretrained:mobilefacenet -o mfn.int8.tflite --int8 --calibration faces/aligned',
    '<%= config.bin %> export-tflite resnet50 -o r50.tflite --decompose-prelu',
  ];
  static override args = floatModelArgs;
  static override flags = {
    ...floatModelFlags,
    output: Flags.string({ char: 'o', description: 'Where to write the .tflite file.', required: true }),
    int8: Flags.boolean({ description: 'Full-integer int8 (needs --calibration).', default: false }),
    calibration: Flags.string({ description: 'Folder of aligned face crops to calibrate int8 activation ranges.' }),
    batch: Flags.integer({ description: 'Batch size written into the file (the batch dimension stays resizable).', min: 1, default: 1 }),
    'decompose-prelu': Flags.boolean({ description: 'Float: write PReLU as RELU/SUB/MUL/ADD, for runtimes without PRELU (Arm NN).', default: false }),
    verify: Flags.boolean({ description: 'Read the file back and check it (default on).', allowNo: true, default: true }),
  };

  async run(): Promise<ExportTfliteReport> {
    const { flags } = this;
    if (!flags.output.toLowerCase().endsWith('.tflite')) throw new InputError(`--output ${flags.output}: expected a path ending in .tflite`);
    const config = loadConfig(flags.config ? resolveConfigFile(flags.config) : undefined, flags.set);
    const engine = engineOptions(config.engine, flags);
    const q = config.quantize;
    const progress = createProgress({ json: this.jsonEnabled() });
    const result = await runExportTflite(
      {
        options: {
          int8: flags.int8,
          batch: flags.batch,
          decomposePrelu: flags['decompose-prelu'],
          calibration: { method: flags.method ?? q.method, percentile: q.percentile, symmetric: q.symmetric, bins: 2048 },
          equalize: flags.equalize ?? q.equalize,
          engine,
          batchSize: q.batch_size,
        },
        ...floatModelRequest(this.args.model, flags, config),
        verify: flags.verify,
      },
      (stage, done, total) => progress.update({ label: `export-tflite: ${stage}`, done, total }),
    );
    progress.stop();
    if (!this.jsonEnabled()) this.printSummary(result);
    const v = result.verification;
    if (v && v.roundTripProblems.length > 0) this.error(`verification failed: ${v.roundTripProblems[0]}`, { exit: EXIT.failure });
    if (v?.numeric && !(v.numeric.maxRelativeError <= TFLITE_FLOAT_TOLERANCE)) {
      this.error(`verification failed: max relative error ${v.numeric.maxRelativeError} exceeds ${TFLITE_FLOAT_TOLERANCE}`, { exit: EXIT.failure });
    }
    return result;
  }

  private printSummary(r: ExportTfliteReport): void {
    this.log(`wrote ${r.path} (${formatBytes(r.fileBytes)}, ${r.precision}, ${Object.values(r.ops).reduce((a, b) => a + b, 0)} ops: ${Object.entries(r.ops).map(([k, n]) => `${k} x${n}`).join(', ')})`);
    this.log(`signature '${r.signature}': ${r.input.name} [${r.input.shape}] -> ${r.output.name} [${r.output.shape}]; metadata 'arcface_metadata' in ${path.basename(r.path)}`);
    if (r.calibrationImages !== undefined) this.log(`int8 calibrated on ${r.calibrationImages} face images${r.equalizedPairs ? `, ${r.equalizedPairs} layer pairs equalized` : ''}`);
    const v = r.verification;
    if (v) {
      this.log(`read back with the project's TFLite reader: ${v.roundTripProblems.length === 0 ? 'identical to what was written' : v.roundTripProblems.join('; ')}`);
      if (v.numeric) this.log(`imported and run against the source graph (batch ${v.numeric.batch}): max relative error ${v.numeric.maxRelativeError.toExponential(2)}`);
      if (v.numericSkipped) this.log(`numeric check skipped: ${v.numericSkipped}`);
    }
    for (const n of r.notes) this.log(`note: ${n}`);
  }
}
