// Findings as people read them (a header, the message, the source line with a caret, a summary) and as JSON.
import { isAbsolute, relative } from 'node:path';
import type { ConfigProblem } from '@weft/core';
import { excerpt, parseLocation } from './excerpt.js';

/** What a run found: every problem, in the order found, and the policy files read. */
export interface Report {
  problems: ConfigProblem[];
  files: string[];
}

export interface TextOptions {
  /** Paths under this directory are printed relative to it. */
  cwd: string;
  /** ANSI colours, for a terminal. */
  color: boolean;
  /** The lines of the files problems point at (see `readLines`); a problem whose file is missing gets no excerpt. */
  lines: ReadonlyMap<string, readonly string[]>;
}

export function counts(problems: readonly ConfigProblem[]): { errors: number; warnings: number } {
  const errors = problems.filter((p) => p.severity === 'error').length;
  return { errors, warnings: problems.length - errors };
}

/** `{ problems, errors, warnings, files }`, paths as weft read them (absolute). */
export function formatJson(report: Report): string {
  return `${JSON.stringify({ problems: report.problems, ...counts(report.problems), files: report.files }, null, 2)}\n`;
}

const STYLES = { bold: [1, 22], dim: [2, 22], red: [31, 39], yellow: [33, 39], cyan: [36, 39] } as const;
type Style = keyof typeof STYLES;

function painter(color: boolean): (text: string, ...styles: Style[]) => string {
  if (!color) return (text) => text;
  return (text, ...styles) => styles.reduce((out, s) => `\u001b[${STYLES[s][0]}m${out}\u001b[${STYLES[s][1]}m`, text);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The last line: `2 errors, 1 warning in 3 files`, or `no problems in 3 files`. */
export function summary(report: Report): string {
  const { errors, warnings } = counts(report.problems);
  const files = plural(report.files.length, 'file');
  return errors + warnings === 0
    ? `no problems in ${files}`
    : `${plural(errors, 'error')}, ${plural(warnings, 'warning')} in ${files}`;
}

/** A path as the user would type it from `cwd`: relative when it lies beneath, absolute otherwise. */
export function displayPath(path: string, cwd: string): string {
  if (!isAbsolute(path)) return path;
  const rel = relative(cwd, path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

function displaySource(source: string, cwd: string): string {
  const location = parseLocation(source);
  if (location === undefined) return displayPath(source, cwd);
  return `${displayPath(location.file, cwd)}${source.slice(location.file.length)}`;
}

/**
 * One problem, as
 *
 *     error WEFT_ERR_POLICY_FIELD_UNKNOWN  reviews.yaml:7:5  VirtualService default/reviews  spec.http[0].rout
 *       unknown field "rout"; did you mean "route"?
 *       expected: one of "match", "route", ...
 *        7 |   - rout:
 *          |     ^
 */
function formatProblem(p: ConfigProblem, options: TextOptions): string {
  const paint = painter(options.color);
  const tone: Style = p.severity === 'error' ? 'red' : 'yellow';
  const header = [
    `${paint(p.severity, tone, 'bold')} ${paint(p.code, 'bold')}`,
    paint(displaySource(p.source, options.cwd), 'cyan'),
    ...(p.resource === undefined ? [] : [p.resource]),
    paint(p.path, 'dim'),
  ].join('  ');
  const out = [header, `  ${p.message}`];
  if (p.found !== undefined) out.push(`  found: ${p.found}`);
  if (p.expected !== undefined) out.push(`  expected: ${p.expected}`);
  const location = parseLocation(p.source);
  const lines = location === undefined ? undefined : options.lines.get(location.file);
  const shown = location === undefined || lines === undefined ? undefined : excerpt(lines, location);
  if (shown !== undefined) {
    const gutter = ' '.repeat(shown.number.length);
    out.push(`  ${paint(`${shown.number} |`, 'dim')} ${shown.text}`);
    if (shown.caretPad !== undefined)
      out.push(`  ${paint(`${gutter} |`, 'dim')} ${shown.caretPad}${paint('^', tone, 'bold')}`);
  }
  return out.join('\n');
}

/** Every problem, a blank line after each, then the summary. */
export function formatText(report: Report, options: TextOptions): string {
  const paint = painter(options.color);
  const blocks = report.problems.map((p) => `${formatProblem(p, options)}\n\n`);
  const { errors } = counts(report.problems);
  return `${blocks.join('')}${paint(summary(report), 'bold', ...(errors > 0 ? (['red'] as const) : []))}\n`;
}
