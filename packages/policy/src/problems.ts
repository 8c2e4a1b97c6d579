// Zod's issues turned into weft's problems: a stable code, where (source location and field path), what was found, what would be valid.
import type { ConfigProblem, WeftErrorCode } from '@weft/core';
import { z } from 'zod';
import { suggest } from './suggest.js';

/** The codes a family of checks uses for the four generic kinds of mistake. */
export interface ProblemCodes {
  unknown: WeftErrorCode;
  required: WeftErrorCode;
  type: WeftErrorCode;
  value: WeftErrorCode;
  /** What the user calls the things checked: `option` or `field`. */
  noun: string;
}

export const OPTION_CODES: ProblemCodes = {
  unknown: 'WEFT_ERR_OPTION_UNKNOWN',
  required: 'WEFT_ERR_OPTION_REQUIRED',
  type: 'WEFT_ERR_OPTION_TYPE',
  value: 'WEFT_ERR_OPTION_VALUE',
  noun: 'option',
};

export const POLICY_CODES: ProblemCodes = {
  unknown: 'WEFT_ERR_POLICY_FIELD_UNKNOWN',
  required: 'WEFT_ERR_POLICY_FIELD_REQUIRED',
  type: 'WEFT_ERR_POLICY_FIELD_TYPE',
  value: 'WEFT_ERR_POLICY_VALUE',
  noun: 'field',
};

export interface ProblemContext {
  /** The schema checked, for "did you mean" over the field names at an issue's place. */
  schema: z.ZodType;
  /** The value checked. */
  input: unknown;
  codes: ProblemCodes;
  /** Where the checked value sits in its source (e.g. `['spec']`), prefixed to every path. */
  prefix?: readonly PropertyKey[];
  /** The source location of a path (full, with the prefix): `file:line:col`, or the object path for code. */
  locate: (path: readonly PropertyKey[]) => string;
  /** `VirtualService default/reviews`, when the value is a resource. */
  resource?: string;
}

export function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (!/^[A-Za-z_$][\w$-]*$/.test(String(key))) out += `['${String(key)}']`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** A value as the user wrote it, short enough for one line. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function unwrap(t: z.ZodType | undefined): z.ZodType | undefined {
  let s = t;
  for (let i = 0; i < 8 && s !== undefined; i++) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else if (s instanceof z.ZodUnion) s = (s.options as z.ZodType[]).find((o) => unwrap(o) instanceof z.ZodObject) ?? s;
    else break;
  }
  return s instanceof z.ZodUnion ? s : s;
}

/** The field names the schema knows at `path`, for "did you mean". */
export function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let s = unwrap(schema);
  for (const key of path) {
    if (s instanceof z.ZodObject) s = unwrap(s.shape[key as string] as z.ZodType | undefined);
    else if (s instanceof z.ZodRecord) s = unwrap(s.valueType as z.ZodType);
    else if (s instanceof z.ZodArray) s = unwrap(s.element as z.ZodType);
    else return [];
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/** Every problem one zod issue stands for (an unknown-keys issue is one problem per key). */
export function issueToProblems(issue: z.core.$ZodIssue, ctx: ProblemContext): ConfigProblem[] {
  const prefix = ctx.prefix ?? [];
  const full = (path: readonly PropertyKey[]) => [...prefix, ...path];
  const base = (path: readonly PropertyKey[]): Pick<ConfigProblem, 'source' | 'path' | 'severity' | 'resource'> => {
    const p: Pick<ConfigProblem, 'source' | 'path' | 'severity' | 'resource'> = {
      source: ctx.locate(full(path)),
      path: pathText(full(path)),
      severity: 'error',
    };
    if (ctx.resource !== undefined) p.resource = ctx.resource;
    return p;
  };
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(ctx.schema, issue.path);
    return issue.keys.map((key) => {
      const near = suggest(key, known);
      return {
        ...base([...issue.path, key]),
        code: ctx.codes.unknown,
        message: `unknown ${ctx.codes.noun} "${key}"${near === undefined ? '' : `; did you mean "${near}"?`}`,
        expected: known.length === 0 ? `no ${ctx.codes.noun} here` : `one of ${known.map((k) => `"${k}"`).join(', ')}`,
      };
    });
  }
  if (issue.code === 'invalid_key' || issue.code === 'invalid_element') {
    // A record's key (or a map's element) failed its own schema: report the inner issues at the key.
    return issue.issues.flatMap((inner) =>
      issueToProblems({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue, ctx),
    );
  }
  if (issue.code === 'invalid_union') {
    // Report the branch the user was writing: the one with the fewest issues.
    const branches = issue.errors.filter((b) => b.length > 0);
    const found = valueAt(ctx.input, issue.path);
    const objectBranch = branches.find((b) => b.every((i) => i.path.length > 0));
    const branch = typeof found === 'object' && found !== null ? objectBranch : branches[0];
    if (branch === undefined || branch.length === 0) {
      return [{ ...base(issue.path), code: ctx.codes.type, message: issue.message, found: show(found) }];
    }
    return branch.flatMap((inner) =>
      issueToProblems({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue, ctx),
    );
  }
  const found = valueAt(ctx.input, issue.path);
  const params = (issue as { params?: { weft?: WeftErrorCode; expected?: string } }).params;
  let code: WeftErrorCode = ctx.codes.value;
  let expected = params?.expected;
  let message = issue.message;
  if (params?.weft !== undefined) {
    code = params.weft;
  } else if (issue.code === 'invalid_type') {
    code = found === undefined ? ctx.codes.required : ctx.codes.type;
    expected ??= `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    message =
      found === undefined
        ? `this ${ctx.codes.noun} is required`
        : `wrong type: ${Array.isArray(found) ? 'a list' : typeof found}`;
  } else if (issue.code === 'invalid_value') {
    expected ??= `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    const near = typeof found === 'string' ? suggest(found, issue.values.map(String)) : undefined;
    message = `not an allowed value${near === undefined ? '' : `; did you mean "${near}"?`}`;
  } else if (issue.code === 'too_small') {
    expected ??= `at least ${String(issue.minimum)}`;
  } else if (issue.code === 'too_big') {
    expected ??= `at most ${String(issue.maximum)}`;
  }
  const problem: ConfigProblem = { ...base(issue.path), code, message, found: show(found) };
  if (expected !== undefined) problem.expected = expected;
  return [problem];
}
