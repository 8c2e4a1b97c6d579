// Slow start (Istio's loadBalancer.warmup): a new endpoint's weight ramps up over a window, as Envoy's slow start mode.
import { type Endpoint, type EndpointSnapshot, WeftError } from '@weft/core';
import { parseDurationMs } from '@weft/policy';

/** `loadBalancer.warmup` (or the older `warmupDurationSecs`), read once when a picker is built. */
export interface SlowStartSettings {
  /** Length of the ramp, in ms. */
  windowMs: number;
  /** Least share of its weight a warming endpoint gets, as a fraction (Istio's `minimumPercent` / 100). */
  minimumFraction: number;
  /** Shape of the ramp: 1 is linear, above 1 ramps faster at first (`time ^ (1 / aggression)`). */
  aggression: number;
}

export const SLOW_START_DEFAULTS = {
  /** Istio's and Envoy's default floor: 10 % of the weight. */
  minimumPercent: 10,
  /** Linear. */
  aggression: 1,
} as const;

/**
 * The settings a loadBalancer asks for, or `undefined` for none (`warmup` wins over
 * `warmupDurationSecs`). A zero window is no slow start. A non-positive aggression throws
 * `WEFT_ERR_OPTION_VALUE` when the picker is built.
 */
export function slowStartSettings(lb: {
  warmup?: { duration: string; minimumPercent?: number | undefined; aggression?: number | undefined } | undefined;
  warmupDurationSecs?: string | undefined;
}): SlowStartSettings | undefined {
  const text = lb.warmup?.duration ?? lb.warmupDurationSecs;
  const windowMs = text === undefined ? undefined : parseDurationMs(text);
  if (windowMs === undefined || windowMs <= 0) return undefined;
  const aggression = lb.warmup?.aggression ?? SLOW_START_DEFAULTS.aggression;
  if (!(aggression > 0)) {
    throw new WeftError('WEFT_ERR_OPTION_VALUE', `warmup: aggression ${String(aggression)} must be above 0`);
  }
  const percent = lb.warmup?.minimumPercent ?? SLOW_START_DEFAULTS.minimumPercent;
  return { windowMs, minimumFraction: Math.min(1, Math.max(0, percent / 100)), aggression };
}

/**
 * Envoy's slow-start factor of an endpoint `ageMs` old: `max(minimum, (max(age, 1 ms) / window) ^ (1 / aggression))`,
 * and 1 once the window is over.
 */
export function slowStartFactor(ageMs: number, s: SlowStartSettings): number {
  if (ageMs >= s.windowMs) return 1;
  const time = Math.max(ageMs, 1) / s.windowMs;
  const ramp = s.aggression === 1 ? time : time ** (1 / s.aggression);
  return Math.max(s.minimumFraction, ramp);
}

/** When each endpoint of one service was first seen. */
interface Births {
  /** The snapshot last scanned; a pick on the same object scans nothing. */
  last: EndpointSnapshot | undefined;
  /** Address → first seen (ms); `-Infinity` for the endpoints of the first snapshot. */
  readonly born: Map<string, number>;
  /** The latest birth; nothing is warming once the window has passed since it. */
  newest: number;
}

/**
 * Remembers, per service, when the balancer first saw each endpoint. The endpoints of the first
 * snapshot of a service count as always there (a process that starts does not warm its whole
 * fleet up); an endpoint that appears later is new from that moment. One per mesh balancer, so a
 * policy reload does not restart a ramp.
 */
export class EndpointBirths {
  readonly #services = new Map<string, Births>();

  /** Scans `snapshot` if it is not the one scanned last for its service; returns the service's births. */
  observe(snapshot: EndpointSnapshot, now: number): Births {
    let births = this.#services.get(snapshot.service);
    if (births === undefined) {
      births = { last: undefined, born: new Map(), newest: Number.NEGATIVE_INFINITY };
      this.#services.set(snapshot.service, births);
    }
    if (births.last === snapshot) return births;
    const first = births.last === undefined;
    const born = births.born;
    const endpoints = snapshot.endpoints;
    for (let i = 0; i < endpoints.length; i++) {
      const address = (endpoints[i] as Endpoint).address;
      if (born.has(address)) continue;
      born.set(address, first ? Number.NEGATIVE_INFINITY : now);
      if (!first) births.newest = now;
    }
    // Keep the map near the size of the service: drop addresses long gone (seen again, they are new).
    if (born.size > 4 * endpoints.length + 16) {
      const present = new Set(endpoints.map((e) => e.address));
      for (const address of born.keys()) if (!present.has(address)) born.delete(address);
    }
    births.last = snapshot;
    return births;
  }
}

/**
 * The slow-start view one picker reads: `begin` (by the policy picker, before each pick) says
 * which service is being picked for and whether any of its endpoints is warming; `weight` then
 * gives an endpoint's weight scaled by its factor. Picks are synchronous, so the view set by
 * `begin` is the one the following pick reads.
 */
export class SlowStart {
  readonly settings: SlowStartSettings;
  readonly #births: EndpointBirths;
  readonly #now: () => number;
  #current: Births | undefined = undefined;
  #at = 0;
  /** Whether some endpoint of the service of the current pick is warming. */
  warming = false;

  constructor(settings: SlowStartSettings, births: EndpointBirths, now: () => number = Date.now) {
    this.settings = settings;
    this.#births = births;
    this.#now = now;
  }

  /** Sets the view for a pick among `snapshot` (the destination's endpoints, before any locality split). */
  begin(snapshot: EndpointSnapshot): void {
    const now = this.#now();
    const births = this.#births.observe(snapshot, now);
    this.#current = births;
    this.#at = now;
    this.warming = now - births.newest < this.settings.windowMs;
  }

  /** The weight of `endpoint` now: its own, scaled down while it warms. */
  weight(endpoint: Endpoint): number {
    if (!this.warming) return endpoint.weight;
    const born = this.#current?.born.get(endpoint.address);
    if (born === undefined) return endpoint.weight;
    return endpoint.weight * slowStartFactor(this.#at - born, this.settings);
  }
}
