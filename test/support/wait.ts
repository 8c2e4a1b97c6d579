// Waiting, bounded, for something the test cannot be told about (a breaker half-opening, a watch catching up).

/** Resolves once `predicate` holds, polling every 20 ms; fails after `limitMs`. */
export async function until(predicate: () => boolean, limitMs: number): Promise<void> {
  const end = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`condition not reached within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
