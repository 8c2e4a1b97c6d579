// Earliest deadline first: the weighted schedule behind weighted round robin and weighted least request, O(log n) a pick.

/**
 * Envoy's EDF scheduler over the indexes 0…n-1 of a snapshot's endpoints. Each index has a
 * deadline; a pick takes the earliest (on a tie, the one put in the schedule first, as Envoy) and
 * puts it back at `deadline + 1 / weight`, with the weight asked for at that moment. An index
 * of weight w is therefore picked w times for each time an index of weight 1 is, and a weight
 * that changes (slow start, requests in flight) takes effect from that index's next turn, with
 * no rebuild.
 *
 * A binary heap in typed arrays: no allocation per pick.
 */
export class EdfSchedule {
  readonly #heap: Uint32Array;
  readonly #deadline: Float64Array;
  /** When each index was last put in, to break ties in favour of the one waiting longest. */
  readonly #order: Float64Array;
  #inserted = 0;

  /** `weight(i)` for every index first; an index of weight ≤ 0 is put at the back of every turn. */
  constructor(size: number, weight: (index: number) => number) {
    this.#heap = new Uint32Array(size);
    this.#deadline = new Float64Array(size);
    this.#order = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      this.#deadline[i] = step(weight(i));
      this.#order[i] = this.#inserted++;
      this.#heap[i] = i;
    }
    for (let i = (size >>> 1) - 1; i >= 0; i--) this.#down(i);
  }

  get size(): number {
    return this.#heap.length;
  }

  /** The next index of the schedule; `weight` is asked the picked index's weight for its next turn. */
  pick(weight: (index: number) => number): number {
    const heap = this.#heap;
    const top = heap[0] as number;
    const deadlines = this.#deadline;
    // Deadlines only grow; start over from 0 long before float steps get too coarse to tell apart.
    if ((deadlines[top] as number) > 2 ** 40) this.#rebase(deadlines[top] as number);
    deadlines[top] = (deadlines[top] as number) + step(weight(top));
    this.#order[top] = this.#inserted++;
    this.#down(0);
    return top;
  }

  #rebase(now: number): void {
    const d = this.#deadline;
    for (let i = 0; i < d.length; i++) d[i] = (d[i] as number) - now;
  }

  /** Whether heap slot `a` goes before slot `b`: earlier deadline, then put in earlier. */
  #before(a: number, b: number): boolean {
    const ia = this.#heap[a] as number;
    const ib = this.#heap[b] as number;
    const da = this.#deadline[ia] as number;
    const db = this.#deadline[ib] as number;
    return da < db || (da === db && (this.#order[ia] as number) < (this.#order[ib] as number));
  }

  #down(at: number): void {
    const heap = this.#heap;
    const n = heap.length;
    let i = at;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      const c = r < n && this.#before(r, l) ? r : l;
      if (!this.#before(c, i)) return;
      const t = heap[i] as number;
      heap[i] = heap[c] as number;
      heap[c] = t;
      i = c;
    }
  }
}

/** The deadline step of a weight: 1 / weight, and a very late turn for a weight of 0 (never ∞, so order stays total). */
function step(weight: number): number {
  return weight > 0 ? 1 / weight : 2 ** 30;
}
