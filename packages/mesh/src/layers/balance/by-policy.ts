// The strategy of each destination, from its DestinationRule's loadBalancer (a subset's own first), built once per setting.
import { randomBytes } from 'node:crypto';
import type { CallContext, Endpoint, EndpointSnapshot, WeftRequest } from '@weft/core';
import { parseDurationMs, type TrafficPolicy } from '@weft/policy';
import type { ClientCallContext } from '../../client/context.js';
import type { ServiceRegistry } from '../../discovery/registry.js';
import { destinationTrafficPolicy, resolveDestination } from '../../routing/destination.js';
import { outlierPolicyFromDestinationRule } from '../outlier/policy.js';
import { murmur3 } from './hash.js';
import { type ConsistentHashSetting, hashKeyOf } from './hash-key.js';
import type { ChoosePicker, Picker } from './index.js';
import { leastRequest } from './least-request.js';
import {
  type Caller,
  callerLocality,
  groupAt,
  type LocalityGroups,
  type LocalityLbSetting,
  type LocalityPlan,
  localityGroups,
  localityPlan,
} from './locality.js';
import { maglev } from './maglev.js';
import { random } from './random.js';
import { ringHash } from './ring-hash.js';
import { roundRobin } from './round-robin.js';
import { EndpointBirths, SlowStart, slowStartSettings } from './slow-start.js';
import { sourceAddress } from './source-address.js';

type LoadBalancer = NonNullable<TrafficPolicy['loadBalancer']>;

export interface PolicyBalancerOptions {
  /** The strategy of destinations whose rule names none: weft's default, round robin. */
  fallback?: Picker;
  /**
   * Where a destination's whole endpoint set is read (the outlier layer hands balance only the
   * endpoints not ejected); needed for locality failover to know how healthy each level is.
   * Without it, locality balancing sees every endpoint it is given as healthy.
   */
  registry?: ServiceRegistry;
  /** The calling workload's labels: its locality (see `callerLocality`) and what `failoverPriority` compares. */
  labels?: Readonly<Record<string, string>>;
  /** The address `useSourceIp` hashes; the workload's own (`sourceAddress()`) by default. */
  sourceIp?: string;
  /** Clock in ms for slow start; `Date.now` by default. */
  now?: () => number;
  /** Uniform numbers in [0, 1) for locality splits; `Math.random` by default. */
  random?: () => number;
}

const hashKey = (ctx: CallContext): string | undefined => (ctx as ClientCallContext).hashKey;

/** The cookie `httpCookie` issues when a request lacks it, all but the value (built once per setting). */
interface CookieIssue {
  readonly name: string;
  /** `; Max-Age=…; Path=…; HttpOnly…`, after the quoted value. */
  readonly attributes: string;
}

function cookieIssue(setting: ConsistentHashSetting): CookieIssue | undefined {
  const cookie = setting.httpCookie;
  // As Envoy: no ttl, no cookie is made (the call goes to a random endpoint); a ttl of 0 makes a session cookie.
  if (cookie?.ttl === undefined) return undefined;
  const ttlMs = parseDurationMs(cookie.ttl) ?? 0;
  let attributes = ttlMs > 0 ? `; Max-Age=${Math.floor(ttlMs / 1000)}` : '';
  if (cookie.path !== undefined && cookie.path !== '') attributes += `; Path=${cookie.path}`;
  attributes += '; HttpOnly';
  for (const a of cookie.attributes ?? [])
    attributes += a.value === undefined ? `; ${a.name}` : `; ${a.name}=${a.value}`;
  return { name: cookie.name, attributes };
}

/** One built setting: the picker, and what the chooser does for each call before it picks. */
interface Built {
  readonly picker: Picker;
  readonly hash: ConsistentHashSetting | undefined;
  readonly cookie: CookieIssue | undefined;
}

/** The strategy a loadBalancer setting names; ROUND_ROBIN and what weft leaves to the default get round robin. */
function innerPicker(lb: LoadBalancer | undefined, fallback: Picker, slowStart: SlowStart | undefined): Picker {
  const ch = lb?.consistentHash;
  if (ch !== undefined) {
    if (ch.maglev !== undefined) return maglev({ tableSize: ch.maglev.tableSize, key: hashKey });
    const minimumRingSize = ch.ringHash?.minimumRingSize ?? ch.minimumRingSize;
    return ringHash({ ...(minimumRingSize === undefined ? {} : { minimumRingSize }), key: hashKey });
  }
  switch (lb?.simple) {
    case 'RANDOM':
      return random();
    case 'LEAST_REQUEST':
    case 'LEAST_CONN':
      return leastRequest(slowStart === undefined ? {} : { slowStart });
    default:
      // UNSPECIFIED, PASSTHROUGH, ROUND_ROBIN and settings with only locality or warm-up parts.
      return slowStart === undefined ? fallback : roundRobin({ slowStart });
  }
}

/**
 * Chooses the strategy per call from the destination's DestinationRule: the subset's
 * `trafficPolicy.loadBalancer` if it has one, else the rule's, else `fallback` (weft's default,
 * round robin). Pickers are built once per setting object (a new policy snapshot builds new
 * ones). Around the strategy:
 *
 * - slow start (`warmup`, `warmupDurationSecs`) for ROUND_ROBIN and LEAST_REQUEST, as Envoy;
 * - locality balancing (`localityLbSetting`): `distribute` always; priority failover only when the
 *   destination has `outlierDetection`, as Istio (without it nothing would ever move traffic
 *   down a level). Istio's mesh default has locality balancing on, so failover by locality
 *   applies to every destination with outlier detection unless `enabled: false`;
 * - for consistent hashing, the call's key is taken from the request once (a cookie issued when
 *   `httpCookie` has a `ttl` and the request has none; the workload's own address for `useSourceIp`).
 */
export function byDestinationRule(options: PolicyBalancerOptions | Picker = {}): { choose: ChoosePicker } {
  const o: PolicyBalancerOptions = typeof options === 'function' ? { fallback: options } : options;
  const fallback = o.fallback ?? roundRobin();
  const { registry } = o;
  const rand = o.random ?? Math.random;
  const caller: Caller = { locality: callerLocality(o.labels ?? {}), labels: o.labels ?? {} };
  const callerPlaced = caller.locality.region !== '' || caller.locality.zone !== '' || caller.locality.subzone !== '';
  const sourceIp = o.sourceIp;
  const births = new EndpointBirths();

  /** Groups per full snapshot and setting; plans per healthy view. */
  const groupCache = new WeakMap<
    EndpointSnapshot,
    { setting: LocalityLbSetting | undefined; failoverOn: boolean; groups: LocalityGroups | undefined }
  >();
  const planCache = new WeakMap<
    EndpointSnapshot,
    { full: EndpointSnapshot; groups: LocalityGroups; plan: LocalityPlan | undefined }
  >();

  /** The destination's whole endpoint set, of which `healthy` is the outlier layer's view. */
  const fullOf = (ctx: ClientCallContext, healthy: EndpointSnapshot): EndpointSnapshot => {
    if (registry === undefined || ctx.service === undefined || ctx.policy === undefined) return healthy;
    let full: EndpointSnapshot;
    try {
      full = resolveDestination(registry, ctx.policy, ctx.service, ctx.subset).endpoints;
    } catch {
      return healthy;
    }
    // Endpoints changed since the call resolved them: its own snapshot is all it knows.
    return full.service === healthy.service && full.version === healthy.version ? full : healthy;
  };

  /** The endpoints of the locality group this call goes to, or `snapshot` when locality balancing is off. */
  const localityView = (
    snapshot: EndpointSnapshot,
    ctx: ClientCallContext,
    setting: LocalityLbSetting | undefined,
  ): EndpointSnapshot => {
    if (setting?.enabled === false) return snapshot;
    // Outlier detection of any kind (Istio's block, or only weft's A50 annotation) turns failover on.
    const failoverOn = setting?.distribute === undefined && outlierPolicyFromDestinationRule(ctx) !== undefined;
    if (setting?.distribute === undefined && !failoverOn) return snapshot;
    const full = fullOf(ctx, snapshot);
    let g = groupCache.get(full);
    if (g === undefined || g.setting !== setting || g.failoverOn !== failoverOn) {
      g = { setting, failoverOn, groups: localityGroups(full.endpoints, setting, caller, failoverOn) };
      groupCache.set(full, g);
    }
    const groups = g.groups;
    if (groups === undefined) return snapshot;
    let p = planCache.get(snapshot);
    if (p === undefined || p.full !== full || p.groups !== groups) {
      p = { full, groups, plan: localityPlan(full, groups, snapshot) };
      planCache.set(snapshot, p);
    }
    const plan = p.plan;
    if (plan === undefined) return snapshot;
    // A hashed call picks its group from its key, so a key stays in one group while health does.
    const key = ctx.hashKey;
    const r = key === undefined ? rand() : murmur3(key, 0x9e3779b9) / 4294967296;
    return plan.snapshots[groupAt(plan, r)] as EndpointSnapshot;
  };

  /** The picker of one setting (or of none): slow start and locality around the strategy. */
  const compose = (lb: LoadBalancer | undefined): Picker => {
    const settings = lb === undefined ? undefined : slowStartSettings(lb);
    // Envoy applies slow start to round robin and least request only.
    const rampable = lb?.consistentHash === undefined && lb?.simple !== 'RANDOM';
    const slowStart = settings !== undefined && rampable ? new SlowStart(settings, births, o.now) : undefined;
    const inner = innerPicker(lb, fallback, slowStart);
    const setting = lb?.localityLbSetting;
    // Locality needs to know where the caller is (or, for failoverPriority alone, its labels).
    const localityOn = setting?.enabled !== false && (callerPlaced || (setting?.failoverPriority?.length ?? 0) > 0);
    if (slowStart === undefined && !localityOn) return inner;
    const pick = (snapshot: EndpointSnapshot, ctx: CallContext): Endpoint | undefined => {
      if (slowStart !== undefined) slowStart.begin(snapshot);
      const view = localityOn ? localityView(snapshot, ctx as ClientCallContext, setting) : snapshot;
      return inner(view, ctx);
    };
    return Object.assign(pick, {
      ...(inner.consistent === true ? { consistent: true as const } : {}),
      ...(inner.started === undefined ? {} : { started: inner.started.bind(inner) }),
      ...(inner.finished === undefined ? {} : { finished: inner.finished.bind(inner) }),
    });
  };

  const built = new WeakMap<object, Built>();
  const defaultPicker = compose(undefined);
  const choose = (ctx: CallContext, request: WeftRequest): Picker => {
    const c = ctx as ClientCallContext;
    const lb = destinationTrafficPolicy(c, 'loadBalancer');
    if (lb === undefined) return defaultPicker;
    let b = built.get(lb);
    if (b === undefined) {
      const hash = lb.consistentHash;
      b = { picker: compose(lb), hash, cookie: hash === undefined ? undefined : cookieIssue(hash) };
      built.set(lb, b);
    }
    if (b.hash !== undefined && c.hashKey === undefined) {
      let key = hashKeyOf(b.hash, request, sourceIp ?? (b.hash.useSourceIp === true ? sourceAddress() : undefined));
      if (key === undefined && b.cookie !== undefined) {
        // Envoy derives the value from the downstream connection; in process there is none, so it is random.
        key = randomBytes(8).toString('hex');
        c.setCookie = `${b.cookie.name}="${key}"${b.cookie.attributes}`;
      }
      c.hashKey = key;
    }
    return b.picker;
  };
  return { choose };
}
