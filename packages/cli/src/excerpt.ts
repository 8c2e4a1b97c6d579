// The line of a file a problem points at, with a caret under its column.
import { readFile } from 'node:fs/promises';

/** Where a problem's `source` points: a file, a 1-based line and, usually, a 1-based column. */
export interface Location {
  file: string;
  line: number;
  column?: number;
}

const WITH_COLUMN = /^(.+):(\d+):(\d+)$/;
const LINE_ONLY = /^(.+):(\d+)$/;

/** `file.yaml:12:7` or `file.yaml:12` as a location; `undefined` for anything else (a bare path, `policy[0]`). */
export function parseLocation(source: string): Location | undefined {
  const full = WITH_COLUMN.exec(source);
  if (full !== null) return { file: full[1] as string, line: Number(full[2]), column: Number(full[3]) };
  const short = LINE_ONLY.exec(source);
  if (short !== null) return { file: short[1] as string, line: Number(short[2]) };
  return undefined;
}

/** The lines of every file the sources point at; a file that cannot be read is left out (its problems get no excerpt). */
export async function readLines(sources: Iterable<string>): Promise<Map<string, string[]>> {
  const files = new Set<string>();
  for (const source of sources) {
    const location = parseLocation(source);
    if (location !== undefined) files.add(location.file);
  }
  const out = new Map<string, string[]>();
  for (const file of files) {
    try {
      out.set(file, (await readFile(file, 'utf8')).split(/\r?\n/));
    } catch {
      // not a file after all (or gone since it was checked): no excerpt
    }
  }
  return out;
}

/**
 * The line a location points at: its number, its text, and when the location has a column, the
 * padding that puts a caret under it (tabs before the column are kept so the caret lines up).
 * `undefined` when the file has no such line.
 */
export function excerpt(
  lines: readonly string[],
  location: Location,
): { number: string; text: string; caretPad?: string } | undefined {
  const text = lines[location.line - 1];
  if (text === undefined) return undefined;
  const number = String(location.line);
  if (location.column === undefined) return { number, text };
  return { number, text, caretPad: text.slice(0, Math.max(0, location.column - 1)).replace(/[^\t]/g, ' ') };
}
