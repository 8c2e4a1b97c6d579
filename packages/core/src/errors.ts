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
  // outbound calls
  WEFT_ERR_REQUEST_INVALID: { status: 400, flag: '', retryable: false },
  WEFT_ERR_REGISTRY_ONLY: { status: 502, flag: '', retryable: false },
  WEFT_ERR_NO_HEALTHY_UPSTREAM: { status: 503, flag: 'UH', retryable: true },
  WEFT_ERR_UPSTREAM_CONNECT: { status: 503, flag: 'UF', retryable: true },
  WEFT_ERR_UPSTREAM_RESET: { status: 503, flag: 'UC', retryable: true },
  WEFT_ERR_UPSTREAM_FAILURE: { status: 502, flag: 'UPE', retryable: false },
  WEFT_ERR_TIMEOUT: { status: 504, flag: 'UT', retryable: true },
  WEFT_ERR_ABORTED: { status: 499, flag: 'DC', retryable: false },
  WEFT_ERR_CLOSED: { status: 503, flag: '', retryable: false },
} as const satisfies Record<string, { status: number; flag: string; retryable: boolean }>;

export type WeftErrorCode = keyof typeof ERROR_CODES;

/** One problem found while checking configuration; several are reported together. */
export interface ConfigProblem {
  code: WeftErrorCode;
  /** Where the configuration came from: a file (`file:line:column`) or `createMesh options`. */
  source: string;
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
  let line = `  ${p.code} at ${p.source} ${p.path}: ${p.message}`;
  if (p.found !== undefined) line += `; found ${p.found}`;
  if (p.expected !== undefined) line += `; expected ${p.expected}`;
  return line;
}
