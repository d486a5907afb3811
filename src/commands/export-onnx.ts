import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/baseCommand';
import { engineOptions } from '../cli/engineConfig';
import { EXIT } from '../cli/exitCodes';
import { configFlags, engineFlags } from '../cli/sharedFlags';
import { formatBytes } from '../cli/table';
import { loadConfig } from '../core/config';
import { resolveConfigFile } from '../core/config/paths';
import { InputError } from '../core/errors';
import { ExportResult, exportOnnx } from '../core/export/exportOnnx';
import { buildFromConfig, describeModel, loadCheckpointModel } from '../core/model/load';

/** Exported and reference outputs must agree this closely (relative to the output's scale). */
export const EXPORT_TOLERANCE = 1e-4;

export default class ExportOnnx extends BaseCommand<typeof ExportOnnx> {
  static override summary = 'Export a backbone (from a config or a checkpoint) to a verified ONNX file.';
  static override description =
    'Writes only the backbone (never the margin head), with a dynamic batch axis and BatchNorm folded into the neighbouring Conv/Gemm. ' +
    'The file is read back, run on a random batch and compared with the unfolded graph; the max relative error is reported. ' +
    'Input size, colour order, normalisation, embedding size and the alignment template are stored in metadata_props.';
  static override examples = [
    '<%= config.bin %> export-onnx -c mobilefacenet -o mbf.onnx',
    '<%= config.bin %> export-onnx --checkpoint runs/exp1/final.safetensors -o exp1.onnx --l2-normalize',
  ];
  static override flags = {
    ...configFlags,
    ...engineFlags,
    checkpoint: Flags.string({ description: 'A .safetensors checkpoint (its own config rebuilds the model).', exclusive: ['config'] }),
    output: Flags.string({ char: 'o', description: 'Where to write the .onnx file.', required: true }),
    'l2-normalize': Flags.boolean({ description: 'Make the output L2-normalised (default: export.l2_normalize).', allowNo: true }),
    verify: Flags.boolean({ description: 'Verify the written file against the unfolded graph (default: export.verify).', allowNo: true }),
  };

  async run(): Promise<ExportResult> {
    const { flags } = this;
    if (!flags.output.toLowerCase().endsWith('.onnx')) throw new InputError(`--output ${flags.output}: expected a path ending in .onnx`);
    if (flags.checkpoint && flags.set.length > 0) throw new InputError(`--set applies to configs, not to the checkpoint ${flags.checkpoint}`);
    const { config, backbone } = flags.checkpoint
      ? loadCheckpointModel(flags.checkpoint)
      : (() => {
          const config = loadConfig(flags.config ? resolveConfigFile(flags.config) : undefined, flags.set);
          return { config, backbone: buildFromConfig(config) };
        })();
    const result = await exportOnnx(backbone, describeModel(config), flags.output, {
      l2Normalize: flags['l2-normalize'] ?? config.export.l2_normalize,
      verify: flags.verify ?? config.export.verify,
      engine: engineOptions(config.engine, flags),
      seed: config.model.seed,
    });
    if (!this.jsonEnabled()) {
      this.log(`wrote ${result.path} (${formatBytes(result.fileBytes)}, ${result.nodes} nodes)`);
      this.log(
        `folded ${result.foldedBatchNorms} BatchNorm layers, ${result.remainingBatchNorms} left (not foldable), removed ${result.removedNoops} no-op nodes, ` +
          `wrote ${result.preluAsConvs} PReLU and ${result.groupedAsDepthwise} grouped convolutions as depthwise convolutions`,
      );
      if (result.verification) {
        const v = result.verification;
        this.log(`verified on a random batch of ${v.batch}: max relative error ${v.maxRelativeError.toExponential(2)} (max abs ${v.maxAbsoluteError.toExponential(2)})`);
      }
    }
    if (result.verification && !(result.verification.maxRelativeError <= EXPORT_TOLERANCE)) {
      this.error(`verification failed: max relative error ${result.verification.maxRelativeError} exceeds ${EXPORT_TOLERANCE}`, { exit: EXIT.failure });
    }
    return result;
  }
}
