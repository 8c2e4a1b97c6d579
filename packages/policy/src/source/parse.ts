// Policy text (YAML, multi-document, or JSON) into plain documents that remember where each field was written.
import { isMap, isSeq, LineCounter, type Node, parseAllDocuments, type Document as YamlDocument } from 'yaml';

/** One document of a source, with a way back to the line and column of any field in it. */
export interface SourceDocument {
  /** The parsed value (`undefined` for an empty document). */
  readonly value: unknown;
  /** Where the document came from: a file path, or `policy[2]` for an object given in code. */
  readonly origin: string;
  /** `origin:line:column` of the field at `path` (or of the nearest field that exists), for error messages. */
  locate(path: readonly PropertyKey[]): string;
}

export interface ParseError {
  origin: string;
  message: string;
}

/** An object given in code: its location is the object path itself. */
export function codeDocument(value: unknown, origin: string): SourceDocument {
  return { value, origin, locate: () => origin };
}

/**
 * The node of `path` in a YAML document: for a map key that exists, the key itself (an error
 * about a field points at its name); when the path runs out, the deepest node that exists.
 */
function nodeAt(doc: YamlDocument, path: readonly PropertyKey[]): Node | undefined {
  let node: unknown = doc.contents;
  let found = node as Node | undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (pair === undefined) return found;
      found = (pair.key as Node | null) ?? found;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key];
      if (item === undefined) return found;
      node = item;
      found = item as Node;
    } else {
      return found;
    }
  }
  return found;
}

/** Parses every document of a YAML or JSON text. Syntax errors are returned, not thrown. */
export function parseText(text: string, origin: string): { documents: SourceDocument[]; errors: ParseError[] } {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const documents: SourceDocument[] = [];
  const errors: ParseError[] = [];
  const list = Array.isArray(docs) ? docs : [];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        errors.push({ origin: `${origin}:${line}:${col}`, message: e.message.split('\n')[0] as string });
      }
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      // Errors the parser leaves to conversion: an alias with no anchor, an alias bomb.
      const at = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]) : { line: 1, col: 1 };
      errors.push({ origin: `${origin}:${at.line}:${at.col}`, message: (error as Error).message });
      continue;
    }
    if (value === null || value === undefined) continue;
    const startLine = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]).line : 1;
    documents.push({
      value,
      origin: `${origin}:${startLine}`,
      locate(path) {
        const node = nodeAt(doc, path);
        if (node?.range === undefined || node.range === null) return `${origin}:${startLine}`;
        const { line, col } = lineCounter.linePos(node.range[0]);
        return `${origin}:${line}:${col}`;
      },
    });
  }
  return { documents, errors };
}
