/**
 * A list-file training set: one `path label` or `path,label` line per image (the split is at
 * the last comma, else the last run of spaces, so paths may contain spaces). Relative paths are
 * resolved against the list file's folder, so a list travels with its images. Blank lines and
 * lines starting with # are ignored.
 *
 * Labels are either all non-negative integers, used as the class index as written (insightface's
 * lists), or all names, indexed in sorted order like ImageFolder's folders.
 */
import * as fs from 'fs';
import * as path from 'path';
import { InputError } from '../errors';
import { Dataset, Sample } from './dataset';

interface ListLine {
  line: number;
  file: string;
  label: string;
}

const FORMAT = '"path label" or "path,label"';

/** Splits one non-blank line; throws naming the line when it has no label. */
export function parseListLine(text: string, where: string): { file: string; label: string } {
  const comma = text.lastIndexOf(',');
  const match = comma >= 0 ? undefined : /^(.*\S)\s+(\S+)$/.exec(text);
  const file = comma >= 0 ? text.slice(0, comma).trim() : match?.[1];
  const label = comma >= 0 ? text.slice(comma + 1).trim() : match?.[2];
  if (!file || !label) throw new InputError(`${where}: expected ${FORMAT}, got ${JSON.stringify(text)}`);
  return { file, label };
}

function readLines(listFile: string): ListLine[] {
  let text: string;
  try {
    text = fs.readFileSync(listFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${listFile}: cannot read the list file (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder' : String(code)})`);
  }
  const lines: ListLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const { file, label } = parseListLine(trimmed, `${listFile}:${i + 1}`);
    lines.push({ line: i + 1, file, label });
  });
  return lines;
}

/** Class names and a label -> index map: integer labels as written, names sorted. */
function classIndex(labels: readonly string[]): { classes: string[]; indexOf: (label: string) => number } {
  if (labels.every((l) => /^\d+$/.test(l))) {
    const max = labels.reduce((m, l) => Math.max(m, Number(l)), 0);
    return { classes: Array.from({ length: max + 1 }, (_, i) => String(i)), indexOf: Number };
  }
  const classes = [...new Set(labels)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const index = new Map(classes.map((name, i) => [name, i]));
  return { classes, indexOf: (label) => index.get(label) as number };
}

export function readListFile(listFile: string): Dataset {
  const lines = readLines(listFile);
  if (lines.length === 0) throw new InputError(`${listFile}: empty list file (expected ${FORMAT} lines)`);
  const dir = path.dirname(path.resolve(listFile));
  const { classes, indexOf } = classIndex(lines.map((l) => l.label));
  const samples: Sample[] = lines.map((l) => {
    const file = path.resolve(dir, l.file);
    if (!fs.existsSync(file)) throw new InputError(`${listFile}:${l.line}: ${l.file}: no such file (relative paths are resolved against ${dir})`);
    return { path: file, label: indexOf(l.label) };
  });
  const used = new Set(samples.map((s) => s.label));
  const warnings = used.size < classes.length ? [`${listFile}: integer labels leave ${classes.length - used.size} of the classes 0..${classes.length - 1} without images`] : [];
  return { source: listFile, samples, classes, warnings };
}
