// Calls in a closed loop while a test changes something underneath (a restart, a rotation, an outage), bounded in count and time.

export interface ContinuousLoad {
  /** Calls answered 200 so far. */
  readonly ok: number;
  /** Why each other call failed: `status 503`, or the error's message. */
  readonly failures: readonly string[];
  /** Settles when the loop ends by itself (its count or time limit). */
  readonly finished: Promise<void>;
  /** Stops the loop and waits for the calls in flight. */
  stop(): Promise<void>;
}

/**
 * `workers` loops each sending `call()` and reading its body, until `stop()`, `maxCalls` calls in
 * all, or `limitMs`, whichever comes first.
 */
export function continuousLoad(
  call: () => Promise<{ status: number; arrayBuffer(): Promise<ArrayBuffer> }>,
  { workers = 4, maxCalls = 100_000, limitMs = 60_000 } = {},
): ContinuousLoad {
  const failures: string[] = [];
  let ok = 0;
  let running = true;
  const end = Date.now() + limitMs;
  const worker = async () => {
    while (running && Date.now() < end && ok + failures.length < maxCalls) {
      try {
        const res = await call();
        await res.arrayBuffer();
        if (res.status === 200) ok++;
        else failures.push(`status ${res.status}`);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  };
  const finished = Promise.all(Array.from({ length: workers }, worker)).then(() => undefined);
  return {
    get ok() {
      return ok;
    },
    failures,
    finished,
    async stop() {
      running = false;
      await finished;
    },
  };
}
