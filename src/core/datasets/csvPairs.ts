import * as fs from 'fs';
import { ImagePair } from './pair';

/**
 * A CSV of verification pairs: `path1,path2,same` per line. Fields may be double-quoted (RFC 4180:
 * commas, newlines and "" escapes inside quotes); unquoted fields are trimmed; blank lines are
 * skipped. `same` accepts 1/0, true/false, same/diff (any case).
 *
 * Header: by default the first record is a header when its third field is not a label, or when
 * neither of its first two fields looks like a file path (contains '.', '/' or '\'). The second
 * rule is needed because `path1,path2,same` has a valid label, `same`, in its third column.
 * `header: true/false` overrides the guess.
 */

export interface CsvPairsOptions {
  header?: boolean | 'auto';
}

interface CsvRecord {
  /** 1-based line where the record starts. */
  line: number;
  fields: string[];
}

// A Map, not an object literal, so that 'constructor' or '__proto__' are not labels.
const LABELS = new Map<string, boolean>([
  ['1', true],
  ['true', true],
  ['same', true],
  ['0', false],
  ['false', false],
  ['diff', false],
]);

function parseLabel(field: string): boolean | undefined {
  return LABELS.get(field.toLowerCase());
}

/** Splits CSV text into records, tracking the line each one starts on for error messages. */
function parseCsvRecords(text: string, file: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      while (text[i] === ' ' || text[i] === '\t') i++;
      let field = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) throw new Error(`${file}:${start}: unterminated quoted field`);
          if (text[i] === '"' && text[i + 1] === '"') {
            field += '"';
            i += 2;
          } else if (text[i] === '"') {
            i++;
            break;
          } else {
            if (text[i] === '\n') line++;
            field += text[i++];
          }
        }
        while (text[i] === ' ' || text[i] === '\t' || text[i] === '\r') i++;
        if (i < text.length && text[i] !== ',' && text[i] !== '\n') {
          throw new Error(`${file}:${line}: unexpected '${text[i]}' after a closing quote`);
        }
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\n') field += text[i++];
        field = field.trim();
      }
      fields.push(field);
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '\n') {
        i++;
        line++;
      }
      break;
    }
    const blank = fields.length === 1 && fields[0] === '';
    if (!blank) records.push({ line: start, fields });
  }
  return records;
}

function looksLikePath(field: string): boolean {
  return /[./\\]/.test(field);
}

function isHeader(record: CsvRecord): boolean {
  const [first, second, label] = record.fields;
  return parseLabel(label ?? '') === undefined || (!looksLikePath(first ?? '') && !looksLikePath(second ?? ''));
}

function toPair(record: CsvRecord, file: string): ImagePair {
  const where = `${file}:${record.line}`;
  if (record.fields.length !== 3) {
    throw new Error(`${where}: expected 3 fields (path1, path2, same), got ${record.fields.length}`);
  }
  const [a, b, label] = record.fields;
  if (a === '' || b === '') throw new Error(`${where}: empty image path`);
  const same = parseLabel(label);
  if (same === undefined) throw new Error(`${where}: 'same' must be one of 1/0/true/false/same/diff, got '${label}'`);
  return { a, b, same };
}

/** Parses CSV text; `file` only names the source in error messages. */
export function parseCsvPairs(text: string, file = 'pairs.csv', opts: CsvPairsOptions = {}): ImagePair[] {
  const records = parseCsvRecords(text.replace(/^\uFEFF/, ''), file);
  const header = opts.header ?? 'auto';
  const skipFirst = records.length > 0 && (header === 'auto' ? isHeader(records[0]) : header);
  const pairs = (skipFirst ? records.slice(1) : records).map((r) => toPair(r, file));
  if (pairs.length === 0) throw new Error(`${file}: no pairs`);
  return pairs;
}

export function readCsvPairs(file: string, opts: CsvPairsOptions = {}): ImagePair[] {
  return parseCsvPairs(fs.readFileSync(file, 'utf8'), file, opts);
}
