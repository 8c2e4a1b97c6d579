// Envoy's fully jittered exponential backoff: how long to wait before a retry.

/** A source of uniform numbers in [0, 1), `Math.random` by default; tests give their own. */
export type RandomSource = () => number;

/**
 * The wait before retry `retry` (1 for the first retry), in whole ms: uniform in
 * [0, min(maxMs, baseMs × 2^(retry − 1))), as Envoy's JitteredExponentialBackOffStrategy
 * (`random() % interval`, the interval doubling from the base up to the max). With the
 * defaults (25 ms, 250 ms) the ranges are 0–24, 0–49, 0–99, 0–199, then 0–249 ms.
 */
export function backoffDelayMs(retry: number, baseMs: number, maxMs: number, random: RandomSource): number {
  const intervalMs = Math.min(maxMs, baseMs * 2 ** (retry - 1));
  return Math.max(0, Math.min(Math.ceil(intervalMs) - 1, Math.floor(random() * intervalMs)));
}
