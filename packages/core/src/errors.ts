// Every error weft raises: one class, stable codes declared in one table, a cause chain kept.

/**
 * The codes, grouped by area. A code is never renamed or reused; docs/errors.md explains
 * each one and how to fix it, and a test keeps that page and this table in step.
 */
export const ERROR_CODES = {
  // configuration: createMesh options and, later, policy
  WEFT_ERR_CONFIG_INVALID: { status: 500, flag: '', retryable: false },
  WEFT_ERR_OPTION_UNKNOWN: { status: 500, flag: '', retryable: false },
  WEFT_ERR_OPTION_REQUIRED: { status: 500, flag: '', retryable: false },
  WEFT_ERR_OPTION_TYPE: { status: 500, flag: '', retryable: false },
  WEFT_ERR_OPTION_VALUE: { status: 500, flag: '', retryable: false },
  WEFT_ERR_SERVICE_NAME: { status: 500, flag: '', retryable: false },
  WEFT_ERR_ADDRESS: { status: 500, flag: '', retryable: false },
  WEFT_ERR_INTEGRATION_MISSING: { status: 500, flag: '', retryable: false },
  // policy: reading, checking and compiling Istio resources and the concise weft form
  WEFT_ERR_POLICY_SOURCE: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_PARSE: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_KIND: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_NAME: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_DUPLICATE: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_FIELD_UNKNOWN: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_FIELD_REQUIRED: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_FIELD_TYPE: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_VALUE: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_ONEOF: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_DURATION: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_PERCENT: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_REGEX: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_SELECTOR: { status: 500, flag: '', retryable: false },
  WEFT_ERR_POLICY_HOST: { status: 500, flag: '', retryable: false },
  WEFT_ERR_ROUTE_WEIGHT: { status: 500, flag: '', retryable: false },
  WEFT_WARN_ROUTE_WEIGHT_SUM: { status: 500, flag: '', retryable: false },
  WEFT_WARN_POLICY_UNIMPLEMENTED: { status: 500, flag: '', retryable: false },
  // policy analysis across resources, as istioctl analyze
  WEFT_ANALYZE_SUBSET_UNKNOWN: { status: 500, flag: '', retryable: false },
  WEFT_ANALYZE_HOST_UNKNOWN: { status: 500, flag: '', retryable: false },
  WEFT_ANALYZE_ROUTE_UNREACHABLE: { status: 500, flag: '', retryable: false },
  WEFT_ANALYZE_DESTINATION_RULE_CONFLICT: { status: 500, flag: '', retryable: false },
  WEFT_ANALYZE_VIRTUAL_SERVICE_CONFLICT: { status: 500, flag: '', retryable: false },
  WEFT_ANALYZE_SELECTOR_NO_MATCH: { status: 500, flag: '', retryable: false },
  // outbound calls
  WEFT_ERR_REQUEST_INVALID: { status: 400, flag: '', retryable: false },
  WEFT_ERR_REGISTRY_ONLY: { status: 502, flag: '', retryable: false },
  WEFT_ERR_NO_ROUTE: { status: 404, flag: 'NR', retryable: false },
  WEFT_ERR_UNKNOWN_DESTINATION: { status: 503, flag: 'NC', retryable: false },
  WEFT_ERR_NO_HEALTHY_UPSTREAM: { status: 503, flag: 'UH', retryable: true },
  WEFT_ERR_UPSTREAM_CONNECT: { status: 503, flag: 'UF', retryable: true },
  WEFT_ERR_UPSTREAM_RESET: { status: 503, flag: 'UC', retryable: true },
  WEFT_ERR_UPSTREAM_OVERFLOW: { status: 503, flag: 'UO', retryable: false },
  WEFT_ERR_CIRCUIT_OPEN: { status: 503, flag: 'UO', retryable: false },
  WEFT_ERR_UPSTREAM_FAILURE: { status: 502, flag: 'UPE', retryable: false },
  WEFT_ERR_TIMEOUT: { status: 504, flag: 'UT', retryable: true },
  WEFT_ERR_ABORTED: { status: 499, flag: 'DC', retryable: false },
  WEFT_ERR_CLOSED: { status: 503, flag: '', retryable: false },
  WEFT_ERR_DISCOVERY: { status: 500, flag: '', retryable: false },
  // security: the certificate authority and workload identities
  WEFT_ERR_SPIFFE_ID: { status: 500, flag: '', retryable: false },
  WEFT_ERR_CA: { status: 500, flag: '', retryable: false },
  WEFT_ERR_CA_KEY_PERMISSIONS: { status: 500, flag: '', retryable: false },
  WEFT_ERR_CA_REQUEST: { status: 400, flag: '', retryable: false },
  WEFT_ERR_DENIED: { status: 403, flag: '', retryable: false },
  WEFT_ERR_UNAUTHENTICATED: { status: 401, flag: '', retryable: false },
  WEFT_ERR_PEER_IDENTITY: { status: 503, flag: 'UF', retryable: true },
  WEFT_ERR_TLS_ORIGINATION: { status: 503, flag: '', retryable: false },
} as const satisfies Record<string, { status: number; flag: string; retryable: boolean }>;

export type WeftErrorCode = keyof typeof ERROR_CODES;

/** One problem found while checking configuration; several are reported together. */
export interface ConfigProblem {
  code: WeftErrorCode;
  /** Where the configuration came from: a file (`file:line:column`) or `createMesh options`. */
  source: string;
  /** The resource the problem is in, e.g. `VirtualService default/reviews`, when there is one. */
  resource?: string;
  /** Path of the field inside the source, e.g. `discovery.static.reviews[1]`. */
  path: string;
  /** What is wrong, in a sentence. */
  message: string;
  /** What would be valid. */
  expected?: string;
  /** What was found, printed as the user wrote it. */
  found?: string;
  /** `warning` problems are reported but do not stop the load. */
  severity: 'error' | 'warning';
}

export interface WeftErrorOptions {
  /** The logical service the failed call was for. */
  service?: string | undefined;
  /** The endpoint (`host:port`) involved, when one was chosen. */
  endpoint?: string | undefined;
  cause?: unknown;
  problems?: ConfigProblem[];
}

// A brand that survives two copies of this package in one process (undici does the same),
// so `isWeftError` does not depend on `instanceof`.
const kWeftError = Symbol.for('weft.error');

export class WeftError extends Error {
  override readonly name = 'WeftError';
  readonly code: WeftErrorCode;
  /** The HTTP status this failure would be answered with, as a sidecar would answer it. */
  readonly status: number;
  /** Envoy's response flag for this failure (`UH`, `UF`, `UT`, …), or `''` where none fits. */
  readonly flag: string;
  /** Whether trying again (perhaps elsewhere) could succeed. */
  readonly retryable: boolean;
  readonly service: string | undefined;
  readonly endpoint: string | undefined;
  readonly problems: readonly ConfigProblem[];

  constructor(code: WeftErrorCode, message: string, options: WeftErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const spec = ERROR_CODES[code];
    this.code = code;
    this.status = spec.status;
    this.flag = spec.flag;
    this.retryable = spec.retryable;
    this.service = options.service;
    this.endpoint = options.endpoint;
    this.problems = options.problems ?? [];
  }

  get [kWeftError](): true {
    return true;
  }
}

export function isWeftError(value: unknown, code?: WeftErrorCode): value is WeftError {
  if (typeof value !== 'object' || value === null || (value as { [kWeftError]?: true })[kWeftError] !== true) {
    return false;
  }
  return code === undefined || (value as WeftError).code === code;
}

/** Walks the cause chain: is `error`, or anything that caused it, a WeftError with `code`? */
export function causedBy(error: unknown, code: WeftErrorCode): boolean {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 16; depth++) {
    if (isWeftError(e, code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Builds the one error thrown for a set of configuration problems, listing each on its own line. */
export function configError(problems: ConfigProblem[]): WeftError {
  const errors = problems.filter((p) => p.severity === 'error');
  const lines = errors.map(formatProblem);
  const head = `${errors.length} configuration ${errors.length === 1 ? 'error' : 'errors'}`;
  return new WeftError('WEFT_ERR_CONFIG_INVALID', `${head}:\n${lines.join('\n')}`, { problems });
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.resource === undefined ? `${p.source} ${p.path}` : `${p.source} ${p.resource} ${p.path}`;
  let line = `  ${p.code} at ${where}: ${p.message}`;
  if (p.found !== undefined) line += `; found ${p.found}`;
  if (p.expected !== undefined) line += `; expected ${p.expected}`;
  return line;
}
