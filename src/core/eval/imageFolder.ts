import * as fs from 'fs';
import * as path from 'path';
import { LabelledImage } from '../datasets/imageFolderPairs';
import { InputError } from '../errors';

/**
 * An ImageFolder: one sub-folder per identity, holding that person's images. Identities and
 * files are sorted by name so that pair sampling and the gallery split do not depend on the
 * order the file system lists them in. Hidden entries and files that are not images (by
 * extension: a README beside the folders is common) are skipped.
 */

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.pgm', '.ppm', '.pnm']);

function isVisible(name: string): boolean {
  return !name.startsWith('.');
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function listImageFolder(root: string): LabelledImage[] {
  if (!isDirectory(root)) throw new InputError(`${root}: expected a folder of identity sub-folders`);
  const items: LabelledImage[] = [];
  for (const identity of fs.readdirSync(root).filter(isVisible).sort()) {
    const dir = path.join(root, identity);
    if (!isDirectory(dir)) continue;
    for (const file of fs.readdirSync(dir).filter(isVisible).sort()) {
      if (IMAGE_EXTENSIONS.has(path.extname(file).toLowerCase())) items.push({ path: path.join(dir, file), identity });
    }
  }
  if (items.length === 0) {
    throw new InputError(`${root}: no images found; expected one sub-folder per identity holding ${[...IMAGE_EXTENSIONS].join('/')} files`);
  }
  return items;
}
