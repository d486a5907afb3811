import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../cli/baseCommand';
import { engineOptions } from '../cli/engineConfig';
import { EXIT } from '../cli/exitCodes';
import { createProgress } from '../cli/progress';
import { configFlags, engineFlags } from '../cli/sharedFlags';
import { Table, formatBytes, renderText } from '../cli/table';
import { loadConfig } from '../core/config';
import { resolveConfigFile } from '../core/config/paths';
import { DetectAlignSummary, detectAlign } from '../core/detect/detectAlign';
import { DETECTORS } from '../core/detect/factory';
import { STEPS } from '../core/detect/pipeline';
import { InputError } from '../core/errors';

function parseThresholds(value: string): [number, number, number] {
  const t = value.split(',').map((s) => Number(s.trim()));
  if (t.length !== 3 || t.some((v) => !(v >= 0 && v <= 1))) throw new InputError(`--thresholds ${value}: expected 3 comma-separated numbers in 0..1 (P-Net, R-Net, O-Net), e.g. 0.6,0.7,0.7`);
  return [t[0], t[1], t[2]];
}

function summaryTable(s: DetectAlignSummary): Table {
  const reasons = Object.entries(s.errorsByReason).map(([reason, n]) => `${n} ${reason}`);
  const steps = STEPS.map((step) => `${step} ${s.meanStepMs[step].toFixed(1)}`).join(', ');
  const rows: string[][] = [
    ['images', `${s.images} found (${s.inputKind} ${s.input})${s.skippedFiles > 0 ? `, ${s.skippedFiles} other files skipped` : ''}`],
    ['resumed', `${s.alreadyDone} already done per the manifest, ${s.processed} processed`],
    ['faces', `${s.faces} aligned faces from ${s.imagesWithFaces} images`],
    ['no face', String(s.noFace)],
    ['errors', s.errors === 0 ? '0' : `${s.errors} (${reasons.join(', ')})`],
  ];
  if (s.warnings > 0) rows.push(['warnings', `${s.warnings} images (see the manifest)`]);
  if (s.processed > 0) {
    rows.push(['speed', `${s.imagesPerSecond.toFixed(1)} img/s with ${s.detector}, ${s.workers > 0 ? `${s.workers} worker threads` : 'no worker threads'}; ${s.seconds.toFixed(1)} s in all; ${s.cpuMsPerImage.toFixed(0)} ms CPU per image`]);
    rows.push(['ms/image', steps]);
    rows.push(['memory', `peak RSS ${formatBytes(s.peakRssBytes)}`]);
  }
  rows.push(['output', `${s.outputDir} (manifest ${s.manifest})`]);
  return { header: ['detect-align', 'result'], rows };
}

export default class DetectAlign extends BaseCommand<typeof DetectAlign> {
  static override summary = 'Detect faces, align them to the ArcFace template and write the crops, with a resumable manifest.';
  static override description =
    'INPUT is a folder tree (its sub-folders, e.g. one per identity, are kept in the output), a single image, or a list file (.txt/.lst/.list, one path per line). ' +
    'Each face is aligned by a 5-point similarity to the ArcFace template and written as PNG or JPEG; without --largest every face is written with an index suffix (_0 is the highest score). ' +
    'A JSONL manifest (default OUTPUT/manifest.jsonl) gets one line per image: source, status (ok, no-face, error), faces with score, box, landmarks and output path, or the error. ' +
    'A second run skips what the manifest says is done with the same settings. Unreadable, corrupt, non-image or too-large files and unwritable outputs are recorded and the run goes on; ' +
    'the exit code is 1 if any image failed.';
  static override examples = [
    '<%= config.bin %> detect-align photos/ -o aligned/',
    '<%= config.bin %> detect-align photos/ -o aligned/ --largest --format jpeg --quality 90 --min-face-size 40',
    '<%= config.bin %> detect-align crops/ -o aligned/ --pad 0.5',
    '<%= config.bin %> detect-align list.txt -o aligned/ --detector yunet --yunet-model yunet_n_dynamic.onnx --json',
  ];
  static override args = { input: Args.string({ description: 'Folder, image or list file.', required: true }) };
  static override flags = {
    ...configFlags,
    ...engineFlags,
    output: Flags.string({ char: 'o', description: 'Folder for the aligned faces (created if missing).', required: true }),
    manifest: Flags.string({ description: 'JSONL manifest (default: manifest.jsonl in the output folder).' }),
    detector: Flags.option({ options: DETECTORS, description: 'Face detector (default: detect.detector).' })(),
    'yunet-model': Flags.string({ description: 'YuNet .onnx file for --detector yunet (default: detect.yunet_model).' }),
    'min-face-size': Flags.integer({ description: 'Smallest face side looked for, in pixels (default: detect.min_face_size).', min: 4 }),
    thresholds: Flags.string({ description: 'MTCNN P-Net,R-Net,O-Net score thresholds (default: detect.thresholds).' }),
    size: Flags.integer({ description: 'Aligned crop side, a multiple of 112 or 128 (default: detect.size).', min: 16, max: 1024 }),
    format: Flags.option({ options: ['png', 'jpeg'] as const, description: 'Output format (default: detect.format).' })(),
    quality: Flags.integer({ description: 'JPEG quality 1..100 (default: detect.jpeg_quality).', min: 1, max: 100 }),
    largest: Flags.boolean({ description: 'Keep only the largest face per image (default: detect.largest).', allowNo: true }),
    pad: Flags.string({ description: 'Black border added before detection, as a fraction of each side; ~0.5 for tight crops (default: detect.pad).' }),
    'max-pixels': Flags.integer({ description: 'Refuse images with more pixels than this (default: detect.max_pixels).', min: 1 }),
    workers: Flags.integer({ description: 'Worker threads: 0 = one per core, 1 = none (default: detect.workers).', min: 0 }),
    resume: Flags.boolean({ description: 'Skip images the manifest says are done (--no-resume redoes all).', allowNo: true, default: true }),
  };

  async run(): Promise<DetectAlignSummary> {
    const { flags, args } = this;
    const config = loadConfig(flags.config ? resolveConfigFile(flags.config) : undefined, flags.set);
    const d = config.detect;
    const pad = flags.pad === undefined ? d.pad : Number(flags.pad);
    if (flags.pad !== undefined && !(flags.pad.trim() !== '' && pad >= 0 && pad <= 2)) throw new InputError(`--pad ${flags.pad}: expected a number in 0..2 (e.g. 0.5 for tight crops)`);
    const minFaceSize = flags['min-face-size'] ?? d.min_face_size;
    const [p, r, o] = flags.thresholds ? parseThresholds(flags.thresholds) : d.thresholds;
    const [n0, n1, n2, n3] = d.nms_thresholds;
    const progress = createProgress({ json: this.jsonEnabled() });
    const summary = await detectAlign(
      {
        input: args.input,
        outputDir: flags.output,
        manifest: flags.manifest,
        detector: {
          detector: flags.detector ?? d.detector,
          yunetModel: flags['yunet-model'] ?? d.yunet_model,
          mtcnn: { minFaceSize, scaleFactor: d.scale_factor, thresholds: [p, r, o], nmsThresholds: [n0, n1, n2, n3] },
          yunet: { minFaceSize, scoreThreshold: d.yunet_score_threshold, nmsThreshold: d.yunet_nms_threshold },
          engine: engineOptions(config.engine, flags),
        },
        align: {
          size: flags.size ?? d.size,
          format: flags.format ?? d.format,
          quality: flags.quality ?? d.jpeg_quality,
          largest: flags.largest ?? d.largest,
          pad,
          maxPixels: flags['max-pixels'] ?? d.max_pixels,
        },
        workers: flags.workers ?? d.workers,
        resume: flags.resume,
      },
      (s) => progress.update({ label: 'detect-align', done: s.done, total: s.total, detail: `${s.faces} faces, ${s.errors} errors` }),
    );
    progress.stop();
    if (!this.jsonEnabled()) {
      this.log(renderText(summaryTable(summary)));
      for (const message of summary.errorSamples) this.log(`error: ${message}`);
      if (summary.errors > summary.errorSamples.length) this.log(`... and ${summary.errors - summary.errorSamples.length} more errors in ${summary.manifest}`);
    }
    // The summary is printed (as JSON too) before the exit code reports the failures.
    if (summary.errors > 0) process.exitCode = EXIT.failure;
    return summary;
  }
}
