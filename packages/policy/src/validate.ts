// One document of a source checked as a resource: the envelope, the kind, the spec, and warnings for fields weft does not act on yet.
import type { ConfigProblem, WeftErrorCode } from '@weft/core';
import { z } from 'zod';
import { concisePathOf, expandConcise, isConcise, servicePolicy, splitWarning } from './concise.js';
import { issueToProblems, POLICY_CODES, pathText, show } from './problems.js';
import { BREAKER_ANNOTATION, breakerAnnotation } from './schema/breaker.js';
import { findKind, KINDS } from './schema/kinds.js';
import { type KindSchema, params, parseDurationMs } from './schema/kit.js';
import { OUTLIER_ANNOTATION, outlierEjection } from './schema/outlier-ejection.js';
import { codeDocument, type SourceDocument } from './source/parse.js';
import { suggest } from './suggest.js';

/** A resource that passed every check, as the compiler reads it. */
export interface PolicyResource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** `metadata.namespace`, or the workload's namespace when the resource gives none. */
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly spec: unknown;
  /** Where it was read: `file.yaml:12` or `policy[0]`. */
  readonly origin: string;
  /** `Kind/namespace/name`: a later source's resource with the same key replaces an earlier one. */
  readonly key: string;
  /** `file:line:col` of a field of the resource, by its path from the resource (`['spec', 'http', 0]`). */
  readonly locate: (path: readonly PropertyKey[]) => string;
}

export interface Checked {
  resources: PolicyResource[];
  problems: ConfigProblem[];
}

const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const envelope = z.strictObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({
    name: z.string().refine((n) => DNS_SUBDOMAIN.test(n), {
      message: 'not a valid resource name',
      ...params('WEFT_ERR_POLICY_NAME', 'a DNS subdomain: lower-case letters, digits, "-" and ".", at most 253'),
    }),
    namespace: z
      .string()
      .refine((n) => DNS_LABEL.test(n), {
        message: 'not a valid namespace',
        ...params('WEFT_ERR_POLICY_NAME', 'a DNS label: 1 to 63 lower-case letters, digits or "-"'),
      })
      .optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  spec: z.unknown().optional(),
  status: z.unknown().optional(),
});

type Envelope = z.infer<typeof envelope>;

function problem(
  doc: SourceDocument,
  path: readonly PropertyKey[],
  code: WeftErrorCode,
  message: string,
  extra: Partial<ConfigProblem> = {},
): ConfigProblem {
  return { code, source: doc.locate(path), path: pathText(path), message, severity: 'error', ...extra };
}

function kindProblem(doc: SourceDocument, apiVersion: string, kind: string): ConfigProblem {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) : ['', apiVersion];
  const sameKind = KINDS.find((k) => k.kind === kind && k.group === group);
  if (sameKind !== undefined) {
    return problem(doc, ['apiVersion'], 'WEFT_ERR_POLICY_KIND', `${kind} has no version "${version}"`, {
      found: show(apiVersion),
      expected: `one of ${sameKind.versions.map((v) => `"${group}/${v}"`).join(', ')}`,
    });
  }
  const names = [...new Set(KINDS.map((k) => k.kind))];
  const near = suggest(kind, names);
  return problem(
    doc,
    ['kind'],
    'WEFT_ERR_POLICY_KIND',
    `weft reads no ${apiVersion} ${kind}${near === undefined ? '' : `; did you mean "${near}"?`}`,
    {
      found: show(`${apiVersion} ${kind}`),
      expected: `one of ${KINDS.map((k) => `${k.group}/${k.versions[0]} ${k.kind}`).join(', ')}`,
    },
  );
}

/**
 * weft's own settings, carried as annotations where Istio's resources have no field; each checked
 * like a field. A JSON-valued one names a schema: its problems point inside the JSON
 * (`metadata.annotations['weft.io/breaker'].failurePercent`) at the annotation's line.
 */
const WEFT_ANNOTATIONS: Record<string, { check: (value: string) => boolean; expected: string; json?: z.ZodType }> = {
  'weft.io/hedge-delay': {
    check: (v) => ['p50', 'p90', 'p95', 'p99'].includes(v) || (parseDurationMs(v) ?? 0) > 0,
    expected: 'a duration such as "50ms", or "p50", "p90", "p95", "p99"',
  },
  'weft.io/retry-non-idempotent': { check: (v) => v === 'true' || v === 'false', expected: '"true" or "false"' },
  'weft.io/retry-budget': {
    check: (v) => {
      try {
        const parsed = JSON.parse(v) as unknown;
        if (parsed === false) return true;
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return false;
        return Object.entries(parsed).every(
          ([k, n]) =>
            ['percentCanRetry', 'minRetriesPerSecond', 'ttlMs'].includes(k) && typeof n === 'number' && n >= 0,
        );
      } catch {
        return false;
      }
    },
    expected: 'JSON: false, or an object with percentCanRetry, minRetriesPerSecond and ttlMs (numbers)',
  },
  [BREAKER_ANNOTATION]: {
    check: () => true,
    json: breakerAnnotation,
    expected: 'JSON: false, or an object with failurePercent, minimumCalls, window and openFor',
  },
  [OUTLIER_ANNOTATION]: {
    check: () => true,
    json: outlierEjection,
    expected:
      'JSON: an object with successRateEjection { stdevFactor, enforcementPercentage, minimumHosts, requestVolume } and/or failurePercentageEjection { threshold, enforcementPercentage, minimumHosts, requestVolume }',
  },
};

/** Problems of a JSON-valued annotation: not JSON, or what its schema says, at the annotation's place. */
function jsonAnnotationProblems(
  doc: SourceDocument,
  path: PropertyKey[],
  value: string,
  known: { json?: z.ZodType; expected: string },
  resource: string,
): ConfigProblem[] {
  const schema = known.json as z.ZodType;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    return [
      {
        ...problem(doc, path, 'WEFT_ERR_POLICY_VALUE', `not JSON: ${(error as Error).message}`),
        resource,
        found: show(value),
        expected: known.expected,
      },
    ];
  }
  const result = schema.safeParse(parsed);
  if (result.success) return [];
  const where = doc.locate(path);
  return result.error.issues.flatMap((issue) =>
    issueToProblems(issue, { schema, input: parsed, codes: POLICY_CODES, prefix: path, locate: () => where, resource }),
  );
}

function annotationProblems(
  doc: SourceDocument,
  prefix: PropertyKey[],
  annotations: Record<string, string>,
  resource: string,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith('weft.io/')) continue;
    const path = [...prefix, 'metadata', 'annotations', key];
    const known = WEFT_ANNOTATIONS[key];
    if (known === undefined) {
      const near = suggest(key, Object.keys(WEFT_ANNOTATIONS));
      out.push({
        ...problem(
          doc,
          path,
          'WEFT_ERR_POLICY_FIELD_UNKNOWN',
          `unknown weft annotation "${key}"${near === undefined ? '' : `; did you mean "${near}"?`}`,
        ),
        resource,
        expected: `one of ${Object.keys(WEFT_ANNOTATIONS).join(', ')}`,
      });
    } else if (known.json !== undefined) {
      out.push(...jsonAnnotationProblems(doc, path, value, known, resource));
    } else if (!known.check(value)) {
      out.push({
        ...problem(doc, path, 'WEFT_ERR_POLICY_VALUE', `not a valid value for ${key}`),
        resource,
        found: show(value),
        expected: known.expected,
      });
    }
  }
  return out;
}

/** Every concrete path below `value` that `pattern` (`http[].mirror`) names and that is set. */
export function pathsOf(value: unknown, pattern: string): PropertyKey[][] {
  let current: { value: unknown; path: PropertyKey[] }[] = [{ value, path: [] }];
  for (const part of pattern.split('.')) {
    const each = part.endsWith('[]');
    const key = each ? part.slice(0, -2) : part;
    const next: typeof current = [];
    for (const { value: v, path } of current) {
      if (v === null || typeof v !== 'object') continue;
      const child = (v as Record<string, unknown>)[key];
      if (child === undefined || child === null) continue;
      if (each) {
        if (Array.isArray(child)) {
          child.forEach((item, i) => {
            next.push({ value: item, path: [...path, key, i] });
          });
        }
      } else {
        next.push({ value: child, path: [...path, key] });
      }
    }
    current = next;
  }
  return current.map((c) => c.path);
}

function unimplementedWarnings(
  doc: SourceDocument,
  prefix: PropertyKey[],
  kind: KindSchema,
  spec: unknown,
  resource: string,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (kind.unimplemented.includes('')) {
    // The kind as a whole has no effect yet (even `spec: {}` changes behaviour in Istio).
    const full = [...prefix, 'spec'];
    return [
      {
        code: 'WEFT_WARN_POLICY_UNIMPLEMENTED',
        source: doc.locate(full),
        path: pathText(full),
        resource,
        message: `weft does not act on ${kind.kind} yet; the resource is accepted and has no effect`,
        severity: 'warning',
      },
    ];
  }
  for (const pattern of kind.unimplemented) {
    for (const path of pathsOf(spec, pattern)) {
      const full = [...prefix, 'spec', ...path];
      out.push({
        code: 'WEFT_WARN_POLICY_UNIMPLEMENTED',
        source: doc.locate(full),
        path: pathText(full),
        resource,
        message: `weft does not act on ${kind.kind} "${pattern}" yet; the field is accepted and has no effect`,
        severity: 'warning',
      });
    }
  }
  return out;
}

/** Weights of each route of a VirtualService: none may leave a route with nowhere to go; a sum ≠ 100 is flagged. */
function weightProblems(doc: SourceDocument, prefix: PropertyKey[], spec: unknown, resource: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const section of ['http', 'tls', 'tcp']) {
    for (const path of pathsOf(spec, `${section}[].route`)) {
      const route = path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown>)[k], spec) as {
        weight?: number;
      }[];
      if (!Array.isArray(route) || route.length < 2) continue;
      const sum = route.reduce((s, d) => s + (d.weight ?? 0), 0);
      const full = [...prefix, 'spec', ...path];
      if (sum === 0) {
        out.push({
          ...problem(
            doc,
            full,
            'WEFT_ERR_ROUTE_WEIGHT',
            'every destination of this route has weight 0: it could send nowhere',
          ),
          resource,
          expected: 'at least one destination with a weight above 0',
        });
      } else if (sum !== 100) {
        out.push({
          ...problem(
            doc,
            full,
            'WEFT_WARN_ROUTE_WEIGHT_SUM',
            `the weights add up to ${sum}, not 100; they are read relatively (weight / ${sum})`,
          ),
          resource,
          severity: 'warning',
        });
      }
    }
  }
  return out;
}

/** Checks one value found at `prefix` of a document (a document, or an item of a `List`). */
function checkOne(
  doc: SourceDocument,
  value: unknown,
  prefix: PropertyKey[],
  defaultNamespace: string,
  out: Checked,
  checkWeights = true,
): void {
  const locate = doc.locate;
  const head = envelope.safeParse(value);
  if (!head.success) {
    const ctx = { schema: envelope, input: value, codes: POLICY_CODES, prefix, locate };
    out.problems.push(...head.error.issues.flatMap((i) => issueToProblems(i, ctx)));
    return;
  }
  const e: Envelope = head.data;
  const kind = findKind(e.apiVersion, e.kind);
  if (kind === undefined) {
    out.problems.push(kindProblem({ ...doc, locate: (p) => locate([...prefix, ...p]) }, e.apiVersion, e.kind));
    return;
  }
  const namespace = e.metadata.namespace ?? defaultNamespace;
  const resource = `${e.kind} ${namespace}/${e.metadata.name}`;
  const spec = e.spec ?? {};
  const checked = kind.spec.safeParse(spec);
  if (!checked.success) {
    const ctx = { schema: kind.spec, input: spec, codes: POLICY_CODES, prefix: [...prefix, 'spec'], locate, resource };
    out.problems.push(...checked.error.issues.flatMap((i) => issueToProblems(i, ctx)));
    return;
  }
  out.problems.push(...annotationProblems(doc, prefix, e.metadata.annotations ?? {}, resource));
  out.problems.push(...unimplementedWarnings(doc, prefix, kind, spec, resource));
  if (e.kind === 'VirtualService' && checkWeights) out.problems.push(...weightProblems(doc, prefix, spec, resource));
  out.resources.push({
    apiVersion: e.apiVersion,
    kind: e.kind,
    name: e.metadata.name,
    namespace,
    labels: e.metadata.labels ?? {},
    annotations: e.metadata.annotations ?? {},
    spec: checked.data,
    origin: doc.locate(prefix),
    key: `${e.kind}/${namespace}/${e.metadata.name}`,
    locate: (path) => locate([...prefix, ...path]),
  });
}

/** Checks weft's concise form, then the Istio resources it stands for, reporting problems at the concise fields. */
function checkConcise(doc: SourceDocument, value: unknown, defaultNamespace: string, out: Checked): void {
  const parsed = servicePolicy.safeParse(value);
  const resource = `weft service ${String((value as { service?: unknown }).service)}`;
  if (!parsed.success) {
    const ctx = { schema: servicePolicy, input: value, codes: POLICY_CODES, locate: doc.locate, resource };
    out.problems.push(...parsed.error.issues.flatMap((i) => issueToProblems(i, ctx)));
    return;
  }
  const split = splitWarning(parsed.data);
  if (split !== undefined) out.problems.push({ ...split, source: doc.locate(['split']), path: 'split', resource });
  const generated: Checked = { resources: [], problems: [] };
  for (const istio of expandConcise(parsed.data)) {
    checkOne(codeDocument(istio, doc.origin), istio, [], defaultNamespace, generated, false);
  }
  for (const p of generated.problems) {
    const field = concisePathOf(p.path);
    out.problems.push({ ...p, path: field, source: doc.locate(field === '(root)' ? [] : [field]), resource });
  }
  for (const r of generated.resources)
    out.resources.push({
      ...r,
      origin: doc.origin,
      locate: (path) => doc.locate(path.length === 0 ? [] : [concisePathOf(pathText(path))]),
    });
}

/** Checks every resource of one document (a `kind: List` holds several in `items`; the concise form stands for one or two). */
export function checkDocument(doc: SourceDocument, defaultNamespace: string): Checked {
  const out: Checked = { resources: [], problems: [] };
  const value = doc.value as { kind?: unknown; items?: unknown } | null;
  if (isConcise(value)) {
    checkConcise(doc, value, defaultNamespace, out);
  } else if (value !== null && typeof value === 'object' && value.kind === 'List' && Array.isArray(value.items)) {
    value.items.forEach((item, i) => {
      checkOne(doc, item, ['items', i], defaultNamespace, out);
    });
  } else if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    out.problems.push(
      problem(doc, [], 'WEFT_ERR_POLICY_FIELD_TYPE', 'a policy document is a resource object', {
        found: show(value),
        expected: 'an object with apiVersion, kind, metadata and spec',
      }),
    );
  } else {
    checkOne(doc, value, [], defaultNamespace, out);
  }
  return out;
}

/** The file (or code object) a resource was read from, without its line. */
function fileOf(origin: string): string {
  return origin.replace(/:\d+(:\d+)?$/, '');
}

/**
 * Flags a key defined twice within one file or object. Across files (also the files of one
 * directory) the later one simply wins, as `kubectl apply -f dir/` would leave it.
 */
export function duplicateProblems(resources: readonly PolicyResource[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const seen = new Map<string, PolicyResource>();
  for (const r of resources) {
    const key = `${fileOf(r.origin)} ${r.key}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      out.push({
        code: 'WEFT_ERR_POLICY_DUPLICATE',
        source: r.origin,
        path: 'metadata.name',
        resource: `${r.kind} ${r.namespace}/${r.name}`,
        message: `defined twice in one file; first at ${earlier.origin}`,
        severity: 'error',
      });
    }
    seen.set(key, r);
  }
  return out;
}
