import * as fs from 'fs';
import * as path from 'path';

/**
 * The ImageFolder layout that training and evaluation both read: one sub-folder per identity,
 * holding that person's images. Identities and files are sorted so that class indices, pair
 * sampling and gallery splits do not depend on the order the file system lists them in. Hidden
 * entries, loose files beside the identity folders (a README) and files without an image
 * extension are left out.
 */

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.pgm', '.ppm', '.pnm']);

export interface IdentityFolder {
  identity: string;
  dir: string;
  /** Paths of its images, sorted; empty for a folder without images (callers decide what that means). */
  images: string[];
}

function isVisible(name: string): boolean {
  return !name.startsWith('.');
}

export function isDirectory(p: string): boolean {
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

/** Sorted by code point, not locale, so the order is the same on every machine. */
function sortedNames(names: string[]): string[] {
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The identity folders of `root`, a folder the caller has checked, each with its images. */
export function listIdentityFolders(root: string): IdentityFolder[] {
  return sortedNames(entries(root, 'folder')).map((identity) => {
    const dir = path.join(root, identity);
    const files = sortedNames(entries(dir, 'file').filter((name) => IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase())));
    return { identity, dir, images: files.map((file) => path.join(dir, file)) };
  });
}
