// The load driver: sends a fixed number of GETs to one URL, a few at a time, within a time limit, and measures them end to end.

export interface DriveOptions {
  /** How many requests to send in all. */
  requests: number;
  /** How many are in flight at once. */
  concurrency: number;
  /** Time allowed for one request, body included, in ms; default 10000. */
  requestTimeoutMs?: number;
  /** Time allowed for the whole run, in ms; default 60000. Requests not yet sent by then are not sent. */
  maxDurationMs?: number;
}

export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface DriveResult {
  url: string;
  /** Requests asked for. */
  requests: number;
  concurrency: number;
  /** Requests sent; fewer than asked for only if the time limit passed. */
  sent: number;
  /** Requests answered 2xx. */
  ok: number;
  /** Requests asked for that did not end in a 2xx: failed, cut off or never sent. */
  failed: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  /**
   * What went wrong, by code: the answer's `x-weft-error` or `HTTP <status>` for a non-2xx
   * answer; `TIMEOUT`, `TIME_LIMIT` or the socket's code (`ECONNREFUSED` …) for no answer;
   * `NOT_SENT` for requests the time limit left unsent.
   */
  errors: Record<string, number>;
  /** Time from sending to the end of the body, over every answered request, in ms. */
  latencyMs: Latency;
  durationMs: number;
}

export const DRIVE_DEFAULTS = { requestTimeoutMs: 10_000, maxDurationMs: 60_000 } as const;

class TimeLimit extends Error {
  override readonly name = 'TimeLimit';
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`drive: ${name} must be an integer ≥ ${min}; got ${String(value)}`);
  }
}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}

function latencyOf(samples: number[]): Latency {
  const sorted = samples.sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? 0,
    mean: sorted.length === 0 ? 0 : sum / sorted.length,
  };
}

function failureCode(error: unknown, stop: AbortSignal): string {
  if (stop.aborted) return 'TIME_LIMIT';
  const e = error as { name?: string; code?: unknown; cause?: { code?: unknown } } | null;
  if (e?.name === 'TimeoutError') return 'TIMEOUT';
  const code = e?.cause?.code ?? e?.code;
  return typeof code === 'string' ? code : (e?.name ?? 'UNKNOWN');
}

export async function drive(url: string, options: DriveOptions): Promise<DriveResult> {
  checkCount('requests', options.requests, 0);
  checkCount('concurrency', options.concurrency, 1);
  const requestTimeoutMs = options.requestTimeoutMs ?? DRIVE_DEFAULTS.requestTimeoutMs;
  const maxDurationMs = options.maxDurationMs ?? DRIVE_DEFAULTS.maxDurationMs;
  checkCount('requestTimeoutMs', requestTimeoutMs, 1);
  checkCount('maxDurationMs', maxDurationMs, 1);

  const concurrency = Math.min(options.concurrency, Math.max(1, options.requests));
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const count = (into: Record<string, number>, key: string, n = 1) => {
    into[key] = (into[key] ?? 0) + n;
  };
  const samples: number[] = [];
  let sent = 0;
  let ok = 0;

  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(new TimeLimit(`time limit of ${maxDurationMs} ms passed`)), maxDurationMs);
  const started = performance.now();

  async function one(): Promise<void> {
    const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(requestTimeoutMs)]);
    const t0 = performance.now();
    try {
      const response = await fetch(url, { signal });
      await response.arrayBuffer();
      samples.push(performance.now() - t0);
      count(statuses, String(response.status));
      if (response.ok) ok++;
      else count(errors, response.headers.get('x-weft-error') ?? `HTTP ${response.status}`);
    } catch (error) {
      count(errors, failureCode(error, stop.signal));
    }
  }

  async function worker(): Promise<void> {
    while (sent < options.requests && !stop.signal.aborted) {
      sent++;
      await one();
    }
  }

  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    clearTimeout(timer);
  }
  if (sent < options.requests) count(errors, 'NOT_SENT', options.requests - sent);
  return {
    url,
    requests: options.requests,
    concurrency,
    sent,
    ok,
    failed: options.requests - ok,
    statuses,
    errors,
    latencyMs: latencyOf(samples),
    durationMs: performance.now() - started,
  };
}
