/**
 * An ImageFolder training set: one sub-folder per identity, class index by sorted folder name
 * (torchvision's ImageFolder rule), files sorted within each. Hidden entries, loose files beside
 * the identity folders (a README) and files without an image extension are ignored. An identity
 * folder without images is skipped with a warning rather than an error: one empty folder in a
 * large set should not stop training, but it must not silently shift the class indices either,
 * so the warning names it and the skipped folder gets no class.
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { IMAGE_EXTENSIONS } from '../eval/imageFolder';
import { Dataset, Sample } from './dataset';

const EXTENSIONS = [...IMAGE_EXTENSIONS].join(' ');

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

/** Visible entries of `dir` of one kind; the directory listing's types spare a stat per file (symlinks are followed). */
function entries(dir: string, kind: 'file' | 'folder'): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => {
      if (!isVisible(e.name)) return false;
      if (e.isSymbolicLink()) {
        const target = fs.statSync(path.join(dir, e.name), { throwIfNoEntry: false });
        return kind === 'file' ? target?.isFile() === true : target?.isDirectory() === true;
      }
      return kind === 'file' ? e.isFile() : e.isDirectory();
    })
    .map((e) => e.name);
}

/** Sorted by code point, not locale, so class indices are the same on every machine. */
function sortedNames(names: string[]): string[] {
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function scanImageFolder(root: string): Dataset {
  if (!fs.existsSync(root)) throw new InputError(`${root}: no such folder (expected an ImageFolder: one sub-folder per identity)`);
  if (!isDirectory(root)) throw new InputError(`${root}: expected a folder with one sub-folder per identity, got a file`);
  const identities = sortedNames(entries(root, 'folder'));
  if (identities.length === 0) throw new InputError(`${root}: empty dataset folder (expected one sub-folder per identity holding ${EXTENSIONS} files)`);
  const samples: Sample[] = [];
  const classes: string[] = [];
  const warnings: string[] = [];
  for (const identity of identities) {
    const dir = path.join(root, identity);
    const files = sortedNames(entries(dir, 'file').filter((name) => IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase())));
    if (files.length === 0) {
      warnings.push(`${dir}: identity folder has no images (expected ${EXTENSIONS} files); skipped`);
      continue;
    }
    const label = classes.length;
    classes.push(identity);
    for (const file of files) samples.push({ path: path.join(dir, file), label });
  }
  if (classes.length === 0) {
    throw new InputError(`${root}: none of its ${identities.length} identity folders holds images (expected ${EXTENSIONS} files)`);
  }
  return { source: root, samples, classes, warnings };
}
