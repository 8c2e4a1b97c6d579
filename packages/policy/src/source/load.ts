// Policy sources — objects in code, files, directories and globs — read into documents, in order.

import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, isAbsolute, join, resolve } from 'node:path';
import type { ConfigProblem } from '@weft/core';
import fg from 'fast-glob';
import type { PolicyObject } from '../resources.js';
import { codeDocument, parseText, type SourceDocument } from './parse.js';

/**
 * A resource object (Istio's form or weft's concise form, typed so an editor checks it) or a
 * path: a file, a directory or a glob. Objects of other shapes (parsed from elsewhere) are
 * accepted too, and checked when loaded.
 */
export type PolicySource = string | PolicyObject | PolicyText | Readonly<Record<string, unknown>>;

/**
 * Policy text read from somewhere other than a file (an etcd key, a config service): YAML or JSON,
 * one or more documents, checked like a file, its problems located at `origin:line:column`.
 */
export class PolicyText {
  constructor(
    /** Where the text came from, as problems should name it: `etcd:/weft/policy/reviews.yaml`. */
    readonly origin: string,
    readonly text: string,
  ) {}
}

/** What a user gives as policy: one source or a list of them; later ones override earlier ones by resource. */
export type PolicyInput = PolicySource | readonly (PolicySource | readonly PolicySource[])[];

/** One source, read: its documents, and the files and directories to watch for it. */
export interface ReadSource {
  /** `policy[2]`, a file path, or a glob as written. */
  readonly name: string;
  readonly documents: SourceDocument[];
  readonly problems: ConfigProblem[];
  /** Files read, and for directories and globs the directories to watch for new files. */
  readonly watch: string[];
  /** The policy files read, in order. */
  readonly files: string[];
  /** Whether the source is read from disk (and so can change under the process). */
  readonly fromDisk: boolean;
}

const POLICY_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
const GLOB_CHARS = /[*?[\]{}!]/;

function sourceProblem(source: string, message: string, expected?: string): ConfigProblem {
  const p: ConfigProblem = { code: 'WEFT_ERR_POLICY_SOURCE', source, path: '(file)', message, severity: 'error' };
  if (expected !== undefined) p.expected = expected;
  return p;
}

async function readFileSource(
  file: string,
  into: { documents: SourceDocument[]; problems: ConfigProblem[]; files: string[] },
): Promise<void> {
  into.files.push(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    into.problems.push(
      sourceProblem(file, `cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`),
    );
    return;
  }
  const parsed = parseText(text, file);
  into.documents.push(...parsed.documents);
  for (const e of parsed.errors) {
    into.problems.push({
      code: 'WEFT_ERR_POLICY_PARSE',
      source: e.origin,
      path: '(syntax)',
      message: e.message,
      severity: 'error',
    });
  }
}

/** Reads one path source: a glob, a directory (its .yaml, .yml and .json files, in name order, not recursive) or a file. */
async function readPath(path: string, cwd: string): Promise<ReadSource> {
  const out = {
    name: path,
    documents: [] as SourceDocument[],
    problems: [] as ConfigProblem[],
    watch: [] as string[],
    files: [] as string[],
    fromDisk: true,
  };
  if (GLOB_CHARS.test(path)) {
    const files = (await fg(path, { cwd, absolute: true, onlyFiles: true })).sort();
    if (files.length === 0)
      out.problems.push(sourceProblem(path, 'the glob matches no file', 'a glob that matches policy files'));
    for (const file of files) {
      out.watch.push(file);
      await readFileSource(file, out);
    }
    return out;
  }
  const full = isAbsolute(path) ? path : resolve(cwd, path);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(full);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    out.problems.push(
      sourceProblem(
        full,
        code === 'ENOENT' ? 'no such file or directory' : `cannot read: ${code}`,
        'a policy file, a directory of them, or a glob',
      ),
    );
    return out;
  }
  if (info.isDirectory()) {
    out.watch.push(full);
    const names = (await readdir(full)).filter((n) => POLICY_EXTENSIONS.has(extname(n).toLowerCase())).sort();
    for (const name of names) await readFileSource(join(full, name), out);
  } else {
    out.watch.push(full);
    await readFileSource(full, out);
  }
  return out;
}

/** The sources of an input, flattened in order, each object with its path in the input (`policy[1]`). */
export function listSources(input: PolicyInput | undefined, root = 'policy'): { source: PolicySource; name: string }[] {
  if (input === undefined) return [];
  if (!Array.isArray(input)) return [{ source: input as PolicySource, name: root }];
  const out: { source: PolicySource; name: string }[] = [];
  (input as readonly unknown[]).forEach((item, i) => {
    if (!Array.isArray(item)) {
      out.push({ source: item as PolicySource, name: `${root}[${i}]` });
      return;
    }
    item.forEach((inner, j) => {
      out.push({ source: inner as PolicySource, name: `${root}[${i}][${j}]` });
    });
  });
  return out;
}

/** Reads every source of an input. Never throws: what cannot be read is a problem. */
export async function readSources(
  input: PolicyInput | undefined,
  cwd = process.cwd(),
  root = 'policy',
): Promise<ReadSource[]> {
  const out: ReadSource[] = [];
  for (const { source, name } of listSources(input, root)) {
    if (typeof source === 'string') {
      out.push(await readPath(source, cwd));
    } else if (source instanceof PolicyText) {
      const { documents, errors } = parseText(source.text, source.origin);
      const problems: ConfigProblem[] = errors.map((e) => ({
        code: 'WEFT_ERR_POLICY_PARSE',
        source: e.origin,
        path: '(document)',
        message: e.message,
        severity: 'error',
      }));
      out.push({ name: source.origin, documents, problems, watch: [], files: [], fromDisk: false });
    } else if (source !== null && typeof source === 'object') {
      out.push({ name, documents: [codeDocument(source, name)], problems: [], watch: [], files: [], fromDisk: false });
    } else {
      out.push({
        name,
        documents: [],
        problems: [
          {
            code: 'WEFT_ERR_POLICY_SOURCE',
            source: name,
            path: '(source)',
            message: 'a policy source is a resource object or a path',
            found: JSON.stringify(source) ?? String(source),
            expected: 'an object, a file or directory path, or a glob',
            severity: 'error',
          },
        ],
        watch: [],
        files: [],
        fromDisk: false,
      });
    }
  }
  return out;
}
