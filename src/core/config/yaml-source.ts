import { Document, LineCounter, Node as YamlNode, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { ConfigError } from './errors';
import { KeyPath } from './tree';

/** A parsed YAML text that still knows where each key came from. */
export interface YamlSource {
  data: unknown;
  /** 1-based line of the deepest node along `path` that exists in this text. */
  lineOf(path: KeyPath): number | undefined;
}

/** Alias expansion can still fail here (e.g. an alias bomb over the alias-count limit). */
function toData(doc: Document, where: string): unknown {
  try {
    return doc.toJS();
  } catch (err) {
    throw new ConfigError(`${where}: invalid YAML: ${(err as Error).message}`);
  }
}

/** Parses `text`; a syntax error (duplicate keys included) throws `<where>:<line>: invalid YAML: ...`. */
export function parseYaml(text: string, where: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const { line } = lineCounter.linePos(error.pos[0]);
    throw new ConfigError(`${where}:${line}: invalid YAML: ${error.message}`);
  }
  const lineAt = (node: YamlNode | null | undefined) => (node?.range ? lineCounter.linePos(node.range[0]).line : undefined);

  const lineOf = (path: KeyPath): number | undefined => {
    let node: unknown = doc.contents;
    let line = lineAt(doc.contents);
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key));
        if (!pair) break;
        line = lineAt(pair.key as YamlNode) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof key === 'number' && key < node.items.length) {
        node = node.items[key];
        line = lineAt(node as YamlNode) ?? line;
      } else {
        break;
      }
    }
    return line;
  };

  return { data: toData(doc, where), lineOf };
}
