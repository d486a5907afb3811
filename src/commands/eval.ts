import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/baseCommand';
import { engineOptions } from '../cli/engineConfig';
import { createProgress } from '../cli/progress';
import { configFlags, engineFlags } from '../cli/sharedFlags';
import { Table, renderText } from '../cli/table';
import { loadConfig } from '../core/config';
import { resolveConfigFile } from '../core/config/paths';
import { InputError } from '../core/errors';
import { expandHome } from '../core/eval/cache';
import { EvalResult, runEval } from '../core/eval/evaluate';
import { SET_FORMATS } from '../core/eval/evalSet';
import { formatInputSpec } from '../core/eval/inputSpec';
import { PRETRAINED_MODELS } from '../core/model/load';
import { InputSpec } from '../core/export/metadata';

function parseFars(value: string): number[] {
  const fars = value.split(',').map((s) => Number(s.trim()));
  if (fars.some((f) => !(f > 0 && f < 1))) throw new InputError(`--fars ${value}: expected a comma-separated list of numbers in (0, 1), e.g. 1e-1,1e-2,1e-3`);
  return fars;
}

function percent(x: number, digits = 2): string {
  return `${(x * 100).toFixed(digits)}%`;
}

function resultTable(r: EvalResult): Table {
  const rows: string[][] = [
    ['model', `${r.model} (sha256 ${r.modelSha256.slice(0, 12)})`],
    ['data', `${r.data} (${r.format}: ${r.images} images, ${r.pairs} pairs = ${r.positives} same + ${r.negatives} different)`],
    ['input', `${formatInputSpec(r.input)}${r.flip ? ', flip TTA' : ''}; ${r.embeddingSize}-d embedding`],
    ['accuracy', `${percent(r.accuracy)} ± ${percent(r.accuracyStd)} (${r.folds}-fold)`],
    ['threshold', `cosine >= ${r.threshold.toFixed(4)}`],
    ['AUC', r.auc.toFixed(5)],
    ['EER', `${percent(r.eer)} (cosine ${r.eerThreshold.toFixed(4)})`],
    ...r.tarAtFar.map((t) => [`TAR@FAR=${t.far}`, `${percent(t.tar)} (cosine >= ${t.threshold.toFixed(4)})`]),
  ];
  if (r.identification) {
    const id = r.identification;
    rows.push(['rank-1', `${percent(id.rank1)} (${id.probes} probes, gallery ${id.galleryImages} images of ${id.galleryIdentities} identities)`]);
    rows.push(['rank-5', percent(id.rank5)]);
  }
  if (r.missing.images > 0) rows.push(['missing', `${r.missing.images} images, ${r.missing.pairs} pairs skipped`]);
  const speed = r.timing.imagesPerSecond === null ? 'all from cache' : `${r.timing.imagesEmbedded} embedded at ${r.timing.imagesPerSecond.toFixed(1)} img/s`;
  rows.push(['time', `${r.timing.seconds.toFixed(1)} s (${speed}; ${r.pairs} pairs at ${r.timing.pairsPerSecond.toFixed(0)} pairs/s)`]);
  rows.push(['cache', r.cache.dir === null ? 'off' : `${r.cache.hits} hits, ${r.cache.misses} misses${r.cache.corrupt > 0 ? `, ${r.cache.corrupt} damaged entries rewritten` : ''}`]);
  if (r.outputs) rows.push(['wrote', `${r.outputs.results}, ${r.outputs.rocSvg}, ${r.outputs.rocPng}, ${r.outputs.rocCsv}`]);
  return { header: ['metric', 'value'], rows };
}

export default class Eval extends BaseCommand<typeof Eval> {
  static override summary = 'Evaluate a face recognizer: LFW-protocol accuracy, ROC, AUC, EER, TAR@FAR, and 1:N identification.';
  static override description =
    'DATA is an LFW pairs.txt (images relative to its folder, or --root), a folder holding pairs.txt, an insightface .bin, a CSV of path1,path2,same, ' +
    'or an ImageFolder (one sub-folder per identity: every positive pair, seeded negatives, plus rank-1/rank-5 identification). ' +
    'Images must be aligned faces; any not at the model input size are resized to it (bilinear, aspect ratio not kept). ' +
    `MODEL is ${Object.keys(PRETRAINED_MODELS).join(', ')} (built in, the default), an .onnx file, a .safetensors checkpoint, a .yaml config or a shipped config name. ` +
    "Input size, colour order and normalisation come from the flags, else the model's metadata, else the config's input section.";
  static override examples = [
    '<%= config.bin %> detect-align photos/ -o aligned/ --largest && <%= config.bin %> eval aligned/',
    '<%= config.bin %> eval pairs.txt --root lfw-aligned/ --model w600k_r50.onnx --flip --out runs/lfw',
    '<%= config.bin %> eval lfw.bin --model runs/exp1/final.safetensors --json',
    '<%= config.bin %> eval pairs.csv --model other.onnx --color bgr --mean 127.5 --std 127.5',
  ];
  static override args = { data: Args.string({ description: 'The verification set.', required: true }) };
  static override flags = {
    ...configFlags,
    ...engineFlags,
    model: Flags.string({ char: 'm', description: 'The model to evaluate.', default: 'pretrained:mobilefacenet' }),
    format: Flags.option({ options: SET_FORMATS, description: 'Dataset format (default: guessed from DATA).' })(),
    pairs: Flags.string({ description: 'LFW pairs.txt, when DATA is the image folder.' }),
    root: Flags.string({ description: 'Folder that image paths in pairs.txt or the CSV are relative to (default: the folder of DATA).' }),
    'skip-missing': Flags.boolean({ description: 'Evaluate the pairs whose images exist instead of refusing when some are missing.', default: false }),
    flip: Flags.boolean({ description: 'Flip TTA: add the embedding of the mirrored image (default: eval.flip).', allowNo: true }),
    'batch-size': Flags.integer({ description: 'Images per model run (default: eval.batch_size).', min: 1 }),
    folds: Flags.integer({ description: 'Folds when the pairs carry none; ImageFolder pairs are dealt into this many (default: eval.folds).', min: 2 }),
    negatives: Flags.string({ description: 'ImageFolder sets: negative pairs per positive pair (default: eval.negatives_per_positive).' }),
    seed: Flags.integer({ description: 'ImageFolder pair sampling and gallery split (default: eval.seed).', min: 0 }),
    fars: Flags.string({ description: 'FARs for TAR@FAR, e.g. 1e-1,1e-2,1e-3 (default: eval.fars).' }),
    'gallery-per-identity': Flags.integer({ description: 'ImageFolder 1:N: gallery images per identity (default: eval.gallery_per_identity).', min: 1 }),
    'input-size': Flags.integer({ description: "Model input size (default: the model's metadata or input shape).", min: 1 }),
    color: Flags.option({ options: ['rgb', 'bgr'] as const, description: "Channel order the model expects (default: its metadata, else input.color)." })(),
    mean: Flags.string({ description: "Pixels 0..255 are fed as (x - mean) / std (default: metadata, else input.mean)." }),
    std: Flags.string({ description: 'See --mean (default: metadata, else input.std).' }),
    layout: Flags.option({ options: ['NCHW', 'NHWC'] as const, description: "Input layout (default: metadata, else the model's input shape)." })(),
    'cache-dir': Flags.string({ description: 'Embedding cache folder (default: eval.cache_dir, ~/.cache/arcface).' }),
    cache: Flags.boolean({ description: 'Use the embedding cache (default: eval.cache).', allowNo: true }),
    out: Flags.string({ char: 'o', description: 'Folder for results.json, roc.svg, roc.png and roc.csv.' }),
  };

  async run(): Promise<EvalResult> {
    const { flags, args } = this;
    const config = loadConfig(flags.config ? resolveConfigFile(flags.config) : undefined, flags.set);
    const e = config.eval;
    const number = (value: string | undefined, flag: string): number | undefined => {
      if (value === undefined) return undefined;
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new InputError(`--${flag} ${value}: expected a number`);
      return n;
    };
    const overrides: Partial<InputSpec> = { size: flags['input-size'], color: flags.color, mean: number(flags.mean, 'mean'), std: number(flags.std, 'std'), layout: flags.layout };
    const negatives = number(flags.negatives, 'negatives') ?? e.negatives_per_positive;
    if (!(negatives > 0)) throw new InputError(`--negatives ${flags.negatives}: expected a number > 0`);
    const seed = flags.seed ?? e.seed;
    const folds = flags.folds ?? e.folds;
    const useCache = flags.cache ?? e.cache;
    const progress = createProgress({ json: this.jsonEnabled() });
    const result = await runEval(
      {
        data: args.data,
        set: { format: flags.format, pairsFile: flags.pairs, root: flags.root, skipMissing: flags['skip-missing'], seed, negativesPerPositive: negatives, folds },
        model: flags.model,
        // --set also shapes a model given as a config; a checkpoint carries its own.
        configSets: /\.safetensors$/i.test(flags.model) ? [] : flags.set,
        inputOverrides: Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
        inputConfig: config.input,
        flip: flags.flip ?? e.flip,
        batchSize: flags['batch-size'] ?? e.batch_size,
        fars: flags.fars ? parseFars(flags.fars) : e.fars,
        galleryPerIdentity: flags['gallery-per-identity'] ?? e.gallery_per_identity,
        seed,
        cacheDir: useCache ? expandHome(flags['cache-dir'] ?? e.cache_dir) : undefined,
        engine: engineOptions(config.engine, flags),
        outDir: flags.out,
      },
      (p) => progress.update({ label: 'embedding', done: p.done, total: p.total, detail: p.cached > 0 ? `(${p.cached} cached)` : '' }),
    );
    progress.stop();
    if (!this.jsonEnabled()) {
      this.log(renderText(resultTable(result)));
      for (const note of result.notes) this.log(`note: ${note}`);
    }
    return result;
  }
}
