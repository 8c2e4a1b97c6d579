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

  /** Moves the entry at heap slot `at` down until both children come after it (earlier deadline first, then put in earlier). */
  #down(at: number): void {
    const heap = this.#heap;
    const deadline = this.#deadline;
    const order = this.#order;
    const n = heap.length;
    const moving = heap[at] as number;
    const md = deadline[moving] as number;
    const mo = order[moving] as number;
    let i = at;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      let ci = heap[l] as number;
      let cd = deadline[ci] as number;
      const r = l + 1;
      if (r < n) {
        const ri = heap[r] as number;
        const rd = deadline[ri] as number;
        if (rd < cd || (rd === cd && (order[ri] as number) < (order[ci] as number))) {
          c = r;
          ci = ri;
          cd = rd;
        }
      }
      if (md < cd || (md === cd && mo < (order[ci] as number))) break;
      heap[i] = ci;
      i = c;
    }
    heap[i] = moving;
  }
}

/** The deadline step of a weight: 1 / weight, and a very late turn for a weight of 0 (never ∞, so order stays total). */
function step(weight: number): number {
  return weight > 0 ? 1 / weight : 2 ** 30;
}
