import { IMAGE_EXTENSIONS, isDirectory, listIdentityFolders } from '../datasets/identityFolders';
import { LabelledImage } from '../datasets/imageFolderPairs';
import { InputError } from '../errors';

/** The images of an ImageFolder (one sub-folder per identity), labelled by folder name. */
export function listImageFolder(root: string): LabelledImage[] {
  if (!isDirectory(root)) throw new InputError(`${root}: expected a folder of identity sub-folders`);
  const items = listIdentityFolders(root).flatMap(({ identity, images }) => images.map((image) => ({ path: image, identity })));
  if (items.length === 0) {
    throw new InputError(`${root}: no images found; expected one sub-folder per identity holding ${[...IMAGE_EXTENSIONS].join('/')} files`);
  }
  return items;
}
