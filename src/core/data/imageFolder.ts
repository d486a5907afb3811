/**
 * An ImageFolder training set: one sub-folder per identity, class index by sorted folder name
 * (torchvision's ImageFolder rule), files sorted within each. Hidden entries, loose files beside
 * the identity folders (a README) and files without an image extension are ignored. An identity
 * folder without images is skipped with a warning rather than an error: one empty folder in a
 * large set should not stop training, but it must not silently shift the class indices either,
 * so the warning names it and the skipped folder gets no class.
 */
import * as fs from 'fs';
import { IMAGE_EXTENSIONS, isDirectory, listIdentityFolders } from '../datasets/identityFolders';
import { InputError } from '../errors';
import { Dataset, Sample } from './dataset';

const EXTENSIONS = [...IMAGE_EXTENSIONS].join(' ');

export function scanImageFolder(root: string): Dataset {
  if (!fs.existsSync(root)) throw new InputError(`${root}: no such folder (expected an ImageFolder: one sub-folder per identity)`);
  if (!isDirectory(root)) throw new InputError(`${root}: expected a folder with one sub-folder per identity, got a file`);
  const identities = listIdentityFolders(root);
  if (identities.length === 0) throw new InputError(`${root}: empty dataset folder (expected one sub-folder per identity holding ${EXTENSIONS} files)`);
  const samples: Sample[] = [];
  const classes: string[] = [];
  const warnings: string[] = [];
  for (const { identity, dir, images } of identities) {
    if (images.length === 0) {
      warnings.push(`${dir}: identity folder has no images (expected ${EXTENSIONS} files); skipped`);
      continue;
    }
    const label = classes.length;
    classes.push(identity);
    for (const image of images) samples.push({ path: image, label });
  }
  if (classes.length === 0) {
    throw new InputError(`${root}: none of its ${identities.length} identity folders holds images (expected ${EXTENSIONS} files)`);
  }
  return { source: root, samples, classes, warnings };
}
