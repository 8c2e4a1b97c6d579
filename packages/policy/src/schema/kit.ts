// Building blocks of the resource schemas: Istio's durations, string matches, regexes (RE2), percentages, hosts and selectors.

import { isIPv4, isIPv6 } from 'node:net';
import type { WeftErrorCode } from '@weft/core';
import { RE2JS } from 're2js';
import { z } from 'zod';

/** What a refinement attaches to its issue so the problem gets weft's code and says what would be valid. */
export interface WeftIssueParams {
  weft: WeftErrorCode;
  expected?: string;
}

export function params(weft: WeftErrorCode, expected?: string): { params: WeftIssueParams } {
  return { params: expected === undefined ? { weft } : { weft, expected } };
}

// ---------- durations ----------

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const DURATION = /^(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;

export const DURATION_EXPECTED = 'a duration such as "100ms", "1.5s", "2m" or "1h30m" (units ns, us, ms, s, m, h)';

/** Istio's duration syntax (Go's time.ParseDuration, no sign) in milliseconds; `undefined` if it is not one. */
export function parseDurationMs(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let ms = 0;
  for (const [, value, unit] of text.matchAll(DURATION_PART))
    ms += Number(value) * (DURATION_UNITS[unit as string] as number);
  return ms;
}

/** A duration string; `minMs` is the least Istio accepts for the field (most say 1 ms). */
export function duration(minMs = 0) {
  return z.string().superRefine((text, ctx) => {
    const ms = parseDurationMs(text);
    if (ms === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'not a duration',
        ...params('WEFT_ERR_POLICY_DURATION', DURATION_EXPECTED),
      });
    } else if (ms < minMs) {
      ctx.addIssue({
        code: 'custom',
        message: `the duration is shorter than ${minMs} ms`,
        ...params('WEFT_ERR_POLICY_DURATION', `at least ${minMs}ms`),
      });
    }
  });
}

// ---------- regular expressions (RE2, as Envoy runs them) ----------

/** A regex in RE2 syntax; what RE2 refuses (lookaround, backreferences, …) is refused here, with RE2's reason. */
export function regex() {
  return z.string().superRefine((pattern, ctx) => {
    try {
      RE2JS.compile(pattern);
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: `not a valid RE2 regular expression: ${(error as Error).message}`,
        ...params(
          'WEFT_ERR_POLICY_REGEX',
          'RE2 syntax (https://github.com/google/re2/wiki/Syntax): no lookaround, no backreferences',
        ),
      });
    }
  });
}

/** Exactly one of `keys` is set on the object (protobuf's `oneof`). */
export function oneOf<T extends z.ZodObject>(schema: T, keys: readonly string[], required = true) {
  return schema.superRefine((value, ctx) => {
    const set = keys.filter((k) => (value as Record<string, unknown>)[k] !== undefined);
    if (set.length > 1 || (required && set.length === 0)) {
      ctx.addIssue({
        code: 'custom',
        message: set.length > 1 ? `only one of ${set.join(', ')} may be set` : `one of ${keys.join(', ')} must be set`,
        ...params('WEFT_ERR_POLICY_ONEOF', `exactly one of ${keys.map((k) => `"${k}"`).join(', ')}`),
      });
    }
  });
}

/** Istio's StringMatch: `exact`, `prefix` or `regex` (RE2). An empty object matches presence, where the field allows it. */
export const stringMatch = oneOf(
  z.strictObject({ exact: z.string().optional(), prefix: z.string().optional(), regex: regex().optional() }),
  ['exact', 'prefix', 'regex'],
  false,
);

// ---------- addresses ----------

/** Why `block` is not an IPv4/IPv6 address or CIDR range (`10.0.0.0/8`), or `undefined` when it is one. */
export function ipBlockProblem(block: string): string | undefined {
  const [address, prefix, extra] = block.split('/');
  if (extra !== undefined || address === undefined) return 'more than one "/"';
  const v6 = isIPv6(address);
  if (!v6 && !isIPv4(address)) return `"${address}" is not an IPv4 or IPv6 address`;
  if (prefix !== undefined) {
    const n = Number(prefix);
    if (!/^\d+$/.test(prefix) || n > (v6 ? 128 : 32))
      return `"/${prefix}" is not a prefix length (0 to ${v6 ? 128 : 32})`;
  }
  return undefined;
}

export const IP_BLOCK_EXPECTED = 'an IPv4 or IPv6 address, or a CIDR range such as "10.0.0.0/8"';

/** A list of addresses or CIDR ranges, each checked where it stands. */
export const ipBlocks = z.array(
  z.string().superRefine((block, ctx) => {
    const problem = ipBlockProblem(block);
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', message: problem, ...params('WEFT_ERR_POLICY_VALUE', IP_BLOCK_EXPECTED) });
    }
  }),
);

// ---------- numbers ----------

export function percent() {
  return z.number().refine((n) => n >= 0 && n <= 100, {
    message: 'a percentage is between 0 and 100',
    ...params('WEFT_ERR_POLICY_PERCENT', 'a number from 0 to 100'),
  });
}

export const port = z
  .number()
  .int()
  .refine((n) => n >= 1 && n <= 65535, { message: 'not a port number', ...params('WEFT_ERR_POLICY_VALUE', '1-65535') });

export const uint32 = z.number().int().min(0).max(0xffffffff);

// ---------- names, hosts and labels (Kubernetes syntax) ----------

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const LABEL_KEY_EXPECTED =
  'a label key: an optional DNS prefix and "/", then up to 63 letters, digits, "-", "_" or "."';

/** A Kubernetes label key: `[prefix/]name`. */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return LABEL_NAME.test(key);
  return DNS_SUBDOMAIN.test(key.slice(0, slash)) && LABEL_NAME.test(key.slice(slash + 1));
}

export function isLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

/** Labels as a selector or on a workload: valid keys and values. */
export const labels = z.record(z.string(), z.string()).superRefine((record, ctx) => {
  for (const [key, value] of Object.entries(record)) {
    if (!isLabelKey(key)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `"${key}" is not a label key`,
        ...params('WEFT_ERR_POLICY_SELECTOR', LABEL_KEY_EXPECTED),
      });
    } else if (!isLabelValue(value)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `"${value}" is not a label value`,
        ...params(
          'WEFT_ERR_POLICY_SELECTOR',
          'up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
        ),
      });
    }
  }
});

/** Istio's WorkloadSelector: `{ matchLabels }`. */
export const workloadSelector = z.strictObject({ matchLabels: labels.optional() });

const HOST = /^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$/i;

/** A host as Istio writes it: a short or fully qualified name, optionally with a leading `*.` wildcard, or `*`. */
export const host = z.string().refine((h) => h.length <= 253 && HOST.test(h), {
  message: 'not a host name',
  ...params(
    'WEFT_ERR_POLICY_HOST',
    'a host name such as "reviews", "reviews.prod.svc.cluster.local" or "*.example.com"',
  ),
});

// ---------- the kinds ----------

/** What the loader needs to know of one kind of resource. */
export interface KindSchema {
  /** API group, e.g. `networking.istio.io`. */
  readonly group: string;
  readonly kind: string;
  /** Versions accepted in `apiVersion`, e.g. `['v1', 'v1beta1', 'v1alpha3']`. */
  readonly versions: readonly string[];
  /** The schema of `spec` (strict: unknown fields are errors). */
  readonly spec: z.ZodType;
  /**
   * Fields Istio accepts that weft does not act on yet, as paths below `spec` with `[]` for
   * "every element", e.g. `http[].mirror`. A resource that sets one loads with a warning.
   * `''` alone means the kind as a whole has no effect yet: one warning per resource.
   */
  readonly unimplemented: readonly string[];
}

/** A compiled RE2 pattern, as routing runs it: Envoy's regex matches are full matches. */
export interface Re2 {
  /** Whether the whole string matches. */
  matches(text: string): boolean;
  /** Every match replaced; `\1`-style groups (Envoy's rewrite syntax) refer to capture groups. */
  replaceAll(text: string, substitution: string): string;
}

export function compileRe2(pattern: string, ignoreCase = false): Re2 {
  const re = RE2JS.compile(pattern, ignoreCase ? RE2JS.CASE_INSENSITIVE : 0);
  return {
    matches: (text) => re.matches(text),
    replaceAll: (text, substitution) => re.matcher(text).replaceAll(substitution.replace(/\\(\d)/g, '$$$1')),
  };
}
