import { InputError } from '../errors';
import { Dataset } from './dataset';
import { scanImageFolder } from './imageFolder';
import { readListFile } from './listFile';

export interface DatasetLocation {
  /** data.train_dir: an ImageFolder. */
  trainDir: string | null;
  /** data.list_file: a list file. */
  listFile: string | null;
}

/** The training set the config names: exactly one of data.train_dir and data.list_file. */
export function openDataset(where: DatasetLocation): Dataset {
  if (where.trainDir !== null && where.listFile !== null) {
    throw new InputError(`data.train_dir (${where.trainDir}) and data.list_file (${where.listFile}) are both set: expected one of them`);
  }
  if (where.trainDir !== null) return scanImageFolder(where.trainDir);
  if (where.listFile !== null) return readListFile(where.listFile);
  throw new InputError('no training data: set data.train_dir (an ImageFolder) or data.list_file (e.g. --set data.train_dir=faces/)');
}
