import { Flags } from '@oclif/core';
import { BaseCommand } from '../cli/baseCommand';
import { createProgress } from '../cli/progress';
import { formatBytes } from '../cli/table';
import { SynthSummary, writeSynthSet } from '../core/synth/synthSet';

export default class Synth extends BaseCommand<typeof Synth> {
  static override summary = 'Render a synthetic ImageFolder of face-like images, for the quick start and tests.';
  static override description =
    'Each identity has its own face shape, colouring and feature geometry; each image adds pose (rotation, scale, shift, yaw), expression, ' +
    'lighting, white balance, background and noise. The faces sit where the ArcFace template puts aligned faces. ' +
    'The same seed and settings give the same bytes; a larger set with the same seed extends a smaller one. ' +
    'Writes OUT/id_0000/0000.png ... and OUT/synth.json (written last: a folder with it is complete).';
  static override examples = [
    '<%= config.bin %> synth --out data/synth',
    '<%= config.bin %> synth --out data/synth --identities 100 --images-per-identity 20 --seed 7',
    '<%= config.bin %> synth --out data/synth --force --json',
  ];
  static override flags = {
    out: Flags.string({ char: 'o', description: 'Folder for the set (created if missing; must be new, empty, or a previous synth set with --force).', required: true }),
    identities: Flags.integer({ description: 'Number of people.', min: 1, max: 100000, default: 50 }),
    'images-per-identity': Flags.integer({ description: 'Images of each person.', min: 1, max: 10000, default: 20 }),
    seed: Flags.integer({ description: 'Seed for everything random.', min: 0, max: 0xffffffff, default: 0 }),
    size: Flags.integer({ description: 'Image side in pixels (the models take 112).', min: 16, max: 1024, default: 112 }),
    force: Flags.boolean({ description: 'Replace a previous synthetic set in --out (its id_* folders and synth.json only).', default: false }),
  };

  async run(): Promise<SynthSummary> {
    const { flags } = this;
    const progress = createProgress({ json: this.jsonEnabled() });
    const summary = await writeSynthSet(
      { outDir: flags.out, identities: flags.identities, imagesPerIdentity: flags['images-per-identity'], seed: flags.seed, size: flags.size, force: flags.force },
      (p) => progress.update({ label: 'synth', done: p.done, total: p.total }),
    );
    progress.stop();
    if (!this.jsonEnabled()) {
      this.log(
        `wrote ${summary.images} images (${summary.identities} identities x ${summary.imagesPerIdentity}, ${summary.size}x${summary.size} PNG, ${formatBytes(summary.bytes)}) ` +
          `to ${summary.outDir} in ${summary.seconds.toFixed(1)} s (${summary.imagesPerSecond.toFixed(0)} images/s), seed ${summary.seed}`,
      );
    }
    return summary;
  }
}
