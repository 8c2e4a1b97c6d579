// Istio's HTTPMatchRequest compiled into tests: each field one test, all must pass; explain() reads which one failed.
import type { WeftRequest } from '@weft/core';
import { compileRe2, type HTTPMatchRequest } from '@weft/policy';
import { hostOf } from '../options/address.js';
import type { SourceWorkload } from './model.js';

interface StringMatch {
  exact?: string | undefined;
  prefix?: string | undefined;
  regex?: string | undefined;
}

/** One field's test of a match, with a description for explain(). */
export interface FieldTest {
  readonly field: string;
  readonly describe: string;
  readonly test: (request: WeftRequest, source: SourceWorkload) => boolean;
}

export interface CompiledMatch {
  readonly tests: readonly FieldTest[];
  /** The prefix of a `uri: { prefix }` match, for a prefix rewrite. */
  readonly uriPrefix: string | undefined;
}

/** A string test for a StringMatch; an empty matcher tests presence. */
function stringTest(
  m: StringMatch,
  ignoreCase = false,
): { test: (value: string | undefined) => boolean; describe: string } {
  if (m.exact !== undefined) {
    const want = ignoreCase ? m.exact.toLowerCase() : m.exact;
    return {
      test: (v) => v !== undefined && (ignoreCase ? v.toLowerCase() : v) === want,
      describe: `exact "${m.exact}"${ignoreCase ? ' (any case)' : ''}`,
    };
  }
  if (m.prefix !== undefined) {
    const want = ignoreCase ? m.prefix.toLowerCase() : m.prefix;
    return {
      test: (v) => v !== undefined && (ignoreCase ? v.toLowerCase() : v).startsWith(want),
      describe: `prefix "${m.prefix}"${ignoreCase ? ' (any case)' : ''}`,
    };
  }
  if (m.regex !== undefined) {
    const re = compileRe2(m.regex);
    return { test: (v) => v !== undefined && re.matches(v), describe: `regex "${m.regex}"` };
  }
  return { test: (v) => v !== undefined, describe: 'present' };
}

function header(request: WeftRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/** The value of a query parameter (first occurrence), or undefined. */
function queryParam(path: string, name: string): string | undefined {
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(path.slice(q + 1)).get(name) ?? undefined;
}

function portOf(request: WeftRequest): number {
  const host = hostOf(request.authority);
  const rest = request.authority.slice(request.authority.lastIndexOf(host) + host.length);
  const port = rest.startsWith(']') ? rest.slice(2) : rest.slice(1);
  return port === '' ? (request.scheme === 'https' ? 443 : 80) : Number(port);
}

/** Compiles one HTTPMatchRequest; `sourceNamespace`, `sourceLabels` and `gateways` test the calling workload. */
export function compileMatch(m: HTTPMatchRequest): CompiledMatch {
  const tests: FieldTest[] = [];
  const ignoreCase = m.ignoreUriCase === true;
  if (m.uri !== undefined) {
    const t = stringTest(m.uri as StringMatch, ignoreCase && m.uri.regex === undefined);
    tests.push({ field: 'uri', describe: `uri ${t.describe}`, test: (r) => t.test(pathOnly(r.path)) });
  }
  if (m.scheme !== undefined) {
    const t = stringTest(m.scheme as StringMatch);
    tests.push({ field: 'scheme', describe: `scheme ${t.describe}`, test: (r) => t.test(r.scheme) });
  }
  if (m.method !== undefined) {
    const t = stringTest(m.method as StringMatch);
    tests.push({ field: 'method', describe: `method ${t.describe}`, test: (r) => t.test(r.method) });
  }
  if (m.authority !== undefined) {
    const t = stringTest(m.authority as StringMatch);
    tests.push({ field: 'authority', describe: `authority ${t.describe}`, test: (r) => t.test(r.authority) });
  }
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    const key = name.toLowerCase();
    const t = stringTest(sm as StringMatch);
    tests.push({
      field: `headers.${key}`,
      describe: `header ${key} ${t.describe}`,
      test: (r) => t.test(header(r, key)),
    });
  }
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    const key = name.toLowerCase();
    const t = stringTest(sm as StringMatch);
    tests.push({
      field: `withoutHeaders.${key}`,
      describe: `no header ${key} ${t.describe}`,
      test: (r) => !t.test(header(r, key)),
    });
  }
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) {
    const t = stringTest(sm as StringMatch);
    tests.push({
      field: `queryParams.${name}`,
      describe: `query ${name} ${t.describe}`,
      test: (r) => t.test(queryParam(r.path, name)),
    });
  }
  if (m.port !== undefined) {
    const port = m.port;
    tests.push({ field: 'port', describe: `port ${port}`, test: (r) => portOf(r) === port });
  }
  if (m.sourceLabels !== undefined) {
    const want = Object.entries(m.sourceLabels);
    tests.push({
      field: 'sourceLabels',
      describe: `caller labels ${JSON.stringify(m.sourceLabels)}`,
      test: (_r, source) => want.every(([k, v]) => source.labels[k] === v),
    });
  }
  if (m.sourceNamespace !== undefined) {
    const ns = m.sourceNamespace;
    tests.push({
      field: 'sourceNamespace',
      describe: `caller namespace ${ns}`,
      test: (_r, source) => source.namespace === ns,
    });
  }
  if (m.gateways !== undefined && m.gateways.length > 0) {
    // weft is the mesh's sidecar side only: a match restricted to gateways other than `mesh` never applies.
    const mesh = m.gateways.includes('mesh');
    tests.push({ field: 'gateways', describe: `gateways ${m.gateways.join(', ')}`, test: () => mesh });
  }
  return { tests, uriPrefix: m.uri?.prefix };
}

/** Whether every test of a compiled match passes. */
export function matches(match: CompiledMatch, request: WeftRequest, source: SourceWorkload): boolean {
  const tests = match.tests;
  for (let i = 0; i < tests.length; i++) if (!(tests[i] as FieldTest).test(request, source)) return false;
  return true;
}
