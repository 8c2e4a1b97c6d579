// Tests of outlier detection: the policy's defaults, the detector's ejections and returns, and the layer in front of balance.
import { compose, type Endpoint, type EndpointSnapshot, type Handler, WeftError } from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientCallContext } from '../../client/context.js';
import { getReviews } from '../../testing/fixtures.js';
import { balance, roundRobin } from '../balance/index.js';
import { compileOutlierPolicy, OutlierDetector, type OutlierPolicy, outlierDetection } from './index.js';

const endpoint = (port: number): Endpoint => ({
  address: `10.0.0.1:${port}`,
  host: '10.0.0.1',
  port,
  labels: {},
  locality: '',
  weight: 1,
});
const snapshotOf = (count: number): EndpointSnapshot => ({
  service: 'reviews.default.svc.cluster.local',
  endpoints: Array.from({ length: count }, (_, i) => endpoint(i + 1)),
  version: 1,
});
const A = '10.0.0.1:1';
const B = '10.0.0.1:2';

let clock = 1_000_000;
const now = (): number => clock;
const open: OutlierDetector[] = [];
function detector(policy: OutlierPolicy, snapshot?: EndpointSnapshot): OutlierDetector {
  const d = new OutlierDetector('reviews', policy, { now, sweep: false });
  open.push(d);
  if (snapshot !== undefined) d.healthy(snapshot);
  return d;
}
const fail = (d: OutlierDetector, address: string, times: number, status = 500): void => {
  for (let i = 0; i < times; i++) d.record(address, { status });
};
const addresses = (s: EndpointSnapshot): string[] => s.endpoints.map((e) => e.address);

afterEach(() => {
  for (const d of open.splice(0)) d.close();
});

describe('compileOutlierPolicy', () => {
  it('fills in the Istio and Envoy defaults with units in the names', () => {
    expect(compileOutlierPolicy({})).toMatchObject({
      consecutive5xxErrors: 5,
      consecutiveGatewayErrors: 0,
      splitExternalLocalOriginErrors: false,
      consecutiveLocalOriginFailures: 5,
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: 10,
      minHealthPercent: 0,
      httpErrorCodes: undefined,
    });
  });

  it('reads durations and returns the same policy for the same settings object', () => {
    const settings = { interval: '1s', baseEjectionTime: '2m', consecutive5xxErrors: 0 };
    const policy = compileOutlierPolicy(settings);
    expect(policy).toMatchObject({ intervalMs: 1000, baseEjectionTimeMs: 120_000, consecutive5xxErrors: 0 });
    expect(compileOutlierPolicy(settings)).toBe(policy);
  });

  it('ignores a gateway threshold at or above the 5xx one and maps the deprecated consecutiveErrors to gateway errors', () => {
    expect(compileOutlierPolicy({ consecutiveGatewayErrors: 5 }).consecutiveGatewayErrors).toBe(0);
    expect(compileOutlierPolicy({ consecutiveGatewayErrors: 3 }).consecutiveGatewayErrors).toBe(3);
    expect(compileOutlierPolicy({ consecutiveErrors: 4 })).toMatchObject({
      consecutiveGatewayErrors: 4,
      consecutive5xxErrors: 0,
    });
  });
});

describe('OutlierDetector', () => {
  const permissive = { maxEjectionPercent: 100 };

  it('ejects an endpoint after the configured number of consecutive 5xx', () => {
    const d = detector(compileOutlierPolicy({ ...permissive, consecutive5xxErrors: 3 }), snapshotOf(2));
    fail(d, A, 2);
    expect(d.isEjected(A)).toBe(false);
    fail(d, A, 1);
    expect(d.isEjected(A)).toBe(true);
    expect(addresses(d.healthy(snapshotOf(2)))).toEqual([B]);
    expect(d.state().find((s) => s.address === A)).toMatchObject({
      ejected: true,
      ejections: 1,
      ejectedUntil: clock + 30_000,
    });
  });

  it('resets the consecutive count on a success', () => {
    const d = detector(compileOutlierPolicy({ ...permissive, consecutive5xxErrors: 3 }), snapshotOf(2));
    fail(d, A, 2);
    d.record(A, { status: 200 });
    fail(d, A, 2);
    expect(d.isEjected(A)).toBe(false);
    expect(d.state().find((s) => s.address === A)?.consecutive5xx).toBe(2);
  });

  it('ejects on consecutive gateway errors below the 5xx threshold, and a plain 500 breaks the gateway run', () => {
    const d = detector(compileOutlierPolicy({ ...permissive, consecutiveGatewayErrors: 2 }), snapshotOf(2));
    d.record(A, { status: 502 });
    d.record(A, { status: 500 });
    d.record(A, { status: 503 });
    expect(d.isEjected(A)).toBe(false);
    d.record(A, { status: 504 });
    expect(d.isEjected(A)).toBe(true);
  });

  it('counts local-origin failures as 5xx when not split, and apart from them when split', () => {
    const unsplit = detector(compileOutlierPolicy({ ...permissive, consecutive5xxErrors: 2 }), snapshotOf(2));
    unsplit.record(A, { localOrigin: true });
    unsplit.record(A, { status: 500 });
    expect(unsplit.isEjected(A)).toBe(true);

    const split = detector(
      compileOutlierPolicy({
        ...permissive,
        consecutive5xxErrors: 2,
        splitExternalLocalOriginErrors: true,
        consecutiveLocalOriginFailures: 3,
      }),
      snapshotOf(2),
    );
    split.record(A, { localOrigin: true });
    split.record(A, { status: 500 });
    split.record(A, { localOrigin: true });
    expect(split.isEjected(A)).toBe(false);
    // One 5xx so far (the local failures do not count toward it), one local failure since the answer.
    expect(split.state().find((s) => s.address === A)).toMatchObject({
      consecutive5xx: 1,
      consecutiveLocalOriginFailures: 1,
    });
    split.record(A, { localOrigin: true });
    expect(split.isEjected(A)).toBe(false);
    split.record(A, { localOrigin: true });
    expect(split.isEjected(A)).toBe(true);
  });

  it('lengthens each ejection by the base time and returns the endpoint when it ends', () => {
    const d = detector(compileOutlierPolicy({ ...permissive, consecutive5xxErrors: 1, baseEjectionTime: '10s' }));
    const snap = snapshotOf(2);
    d.healthy(snap);
    fail(d, A, 1);
    clock += 9_999;
    expect(addresses(d.healthy(snap))).toEqual([B]);
    clock += 1;
    expect(addresses(d.healthy(snap))).toEqual([A, B]);
    fail(d, A, 1);
    clock += 19_999;
    expect(d.isEjected(A)).toBe(true);
    clock += 1;
    expect(d.isEjected(A)).toBe(false);
    expect(d.state().find((s) => s.address === A)).toMatchObject({ ejections: 2, ejected: false });
  });

  it('returns an endpoint on the interval sweep and decays the multiplier while it stays healthy', () => {
    const d = detector(
      compileOutlierPolicy({ ...permissive, consecutive5xxErrors: 1, baseEjectionTime: '10s' }),
      snapshotOf(2),
    );
    fail(d, A, 1);
    clock += 10_000;
    d.sweep();
    expect(d.state().find((s) => s.address === A)).toMatchObject({ ejected: false, ejectionMultiplier: 1 });
    clock += 10_000;
    d.sweep();
    expect(d.state().find((s) => s.address === A)?.ejectionMultiplier).toBe(0);
  });

  it('caps ejections at maxEjectionPercent of the endpoints', () => {
    const d = detector(compileOutlierPolicy({ consecutive5xxErrors: 1, maxEjectionPercent: 50 }), snapshotOf(4));
    for (let port = 1; port <= 4; port++) fail(d, `10.0.0.1:${port}`, 1);
    expect(d.state().filter((s) => s.ejected)).toHaveLength(2);
    expect(d.healthy(snapshotOf(4)).endpoints).toHaveLength(2);
  });

  it('ejects nothing with the default 10 % on fewer than ten endpoints, as Envoy does for Istio', () => {
    const d = detector(compileOutlierPolicy({ consecutive5xxErrors: 1 }), snapshotOf(3));
    fail(d, A, 3);
    expect(d.isEjected(A)).toBe(false);
  });

  it('returns every endpoint when the healthy share falls below minHealthPercent', () => {
    const d = detector(
      compileOutlierPolicy({ ...permissive, consecutive5xxErrors: 1, minHealthPercent: 60 }),
      snapshotOf(4),
    );
    const snap = snapshotOf(4);
    fail(d, A, 1);
    expect(d.healthy(snap).endpoints).toHaveLength(3);
    fail(d, B, 1);
    expect(d.healthy(snap)).toBe(snap);
  });

  it('keeps the same view object until the ejected set changes', () => {
    const d = detector(compileOutlierPolicy({ ...permissive, consecutive5xxErrors: 1 }));
    const snap = snapshotOf(3);
    expect(d.healthy(snap)).toBe(snap);
    fail(d, A, 1);
    const view = d.healthy(snap);
    expect(d.healthy(snap)).toBe(view);
    expect(d.healthy(view)).toBe(view);
    fail(d, B, 1);
    expect(addresses(d.healthy(view))).toEqual(['10.0.0.1:3']);
  });
});

describe('gRPC A50 ejection (weft.io/outlier-detection)', () => {
  const C = '10.0.0.1:3';
  const E = '10.0.0.1:5';
  /** Records `ok` answers of 200 and `bad` of 500 for `address`, interleaved. */
  const traffic = (d: OutlierDetector, address: string, ok: number, bad: number): void => {
    for (let i = 0; i < Math.max(ok, bad); i++) {
      if (i < ok) d.record(address, { status: 200 });
      if (i < bad) d.record(address, { status: 500 });
    }
  };
  const noConsecutive = { consecutive5xxErrors: 0 };
  const rates = (a50: object, istio: object = noConsecutive) => compileOutlierPolicy(istio, a50 as never);
  const withRandom = (policy: OutlierPolicy, random: () => number, snapshot: EndpointSnapshot): OutlierDetector => {
    const d = new OutlierDetector('reviews', policy, { now, sweep: false, random });
    open.push(d);
    d.healthy(snapshot);
    return d;
  };

  it("fills in A50's defaults and leaves both algorithms off unless asked for", () => {
    expect(compileOutlierPolicy({})).toMatchObject({ successRate: undefined, failurePercentage: undefined });
    expect(rates({ successRateEjection: {}, failurePercentageEjection: {} })).toMatchObject({
      consecutive5xxErrors: 0,
      successRate: { stdevFactor: 1900, enforcementPercentage: 100, minimumHosts: 5, requestVolume: 100 },
      failurePercentage: { threshold: 85, enforcementPercentage: 100, minimumHosts: 5, requestVolume: 50 },
    });
    const a50 = { successRateEjection: { requestVolume: 10 } };
    expect(rates(a50)).toBe(rates({ successRateEjection: { requestVolume: 10 } }));
  });

  it('ejects by success rate the endpoint far below the mean, at the sweep, and only then', () => {
    const d = detector(rates({ successRateEjection: { requestVolume: 20 } }), snapshotOf(5));
    for (const a of [A, B, C, '10.0.0.1:4']) traffic(d, a, 40, 0);
    traffic(d, E, 20, 20);
    expect(d.isEjected(E)).toBe(false);
    d.sweep();
    expect(
      d
        .state()
        .filter((s) => s.ejected)
        .map((s) => s.address),
    ).toEqual([E]);
  });

  it('judges nobody by success rate with fewer than minimumHosts endpoints of enough volume', () => {
    const d = detector(rates({ successRateEjection: { requestVolume: 20 } }), snapshotOf(5));
    for (const a of [A, B, C]) traffic(d, a, 40, 0);
    traffic(d, '10.0.0.1:4', 5, 0);
    traffic(d, E, 20, 20);
    d.sweep();
    expect(d.isEjected(E)).toBe(false);
  });

  it('counts each interval afresh', () => {
    const d = detector(rates({ successRateEjection: { requestVolume: 20 } }), snapshotOf(5));
    for (const a of [A, B, C, '10.0.0.1:4']) traffic(d, a, 40, 0);
    traffic(d, E, 5, 5);
    d.sweep();
    // Counted together, E would have its 20 calls in this interval.
    for (const a of [A, B, C, '10.0.0.1:4']) traffic(d, a, 40, 0);
    traffic(d, E, 5, 5);
    d.sweep();
    expect(d.isEjected(E)).toBe(false);
    expect(d.state().find((s) => s.address === E)).toMatchObject({ intervalSuccesses: 0, intervalFailures: 0 });
  });

  it('leaves an outlier in with the probability 100 − enforcementPercentage', () => {
    const policy = rates({ successRateEjection: { requestVolume: 20, enforcementPercentage: 30 } });
    const feed = (d: OutlierDetector) => {
      for (const a of [A, B, C, '10.0.0.1:4']) traffic(d, a, 40, 0);
      traffic(d, E, 20, 20);
      d.sweep();
    };
    const lucky = withRandom(policy, () => 0.3, snapshotOf(5));
    feed(lucky);
    expect(lucky.isEjected(E)).toBe(false);
    const unlucky = withRandom(policy, () => 0.29, snapshotOf(5));
    feed(unlucky);
    expect(unlucky.isEjected(E)).toBe(true);
  });

  it('ejects by failure percentage above the threshold, not at it', () => {
    const d = detector(
      rates({ failurePercentageEjection: { threshold: 50, minimumHosts: 3, requestVolume: 10 } }),
      snapshotOf(3),
    );
    traffic(d, A, 10, 10);
    traffic(d, B, 9, 11);
    traffic(d, C, 20, 0);
    d.sweep();
    expect(d.isEjected(A)).toBe(false);
    expect(d.isEjected(B)).toBe(true);
  });

  it('judges nobody by failure percentage below minimumHosts endpoints or requestVolume calls', () => {
    const few = detector(rates({ failurePercentageEjection: { threshold: 50 } }), snapshotOf(3));
    traffic(few, A, 0, 100);
    few.sweep();
    expect(few.isEjected(A)).toBe(false);
    const quiet = detector(rates({ failurePercentageEjection: { threshold: 50, minimumHosts: 3 } }), snapshotOf(3));
    traffic(quiet, A, 0, 49);
    quiet.sweep();
    expect(quiet.isEjected(A)).toBe(false);
  });

  it('counts local-origin failures and not 4xx as failures', () => {
    const d = detector(
      rates({ failurePercentageEjection: { threshold: 50, minimumHosts: 2, requestVolume: 10 } }),
      snapshotOf(2),
    );
    for (let i = 0; i < 10; i++) d.record(A, { localOrigin: true });
    for (let i = 0; i < 10; i++) d.record(B, { status: 404 });
    d.sweep();
    expect(d.isEjected(A)).toBe(true);
    expect(d.isEjected(B)).toBe(false);
  });

  it("follows A50's cap: one endpoint can always go, then none past maxEjectionPercent", () => {
    const d = detector(
      rates({ failurePercentageEjection: { threshold: 10, minimumHosts: 3, requestVolume: 10 } }),
      snapshotOf(3),
    );
    for (const a of [A, B, C]) traffic(d, a, 0, 10);
    d.sweep();
    // Istio's default cap is 10 %: the first ejection is allowed (0 % out), the second is not (33 % > 10 %).
    expect(d.state().filter((s) => s.ejected)).toHaveLength(1);
  });

  it('makes a repeated ejection last longer, as the consecutive-error rules do', () => {
    const policy = rates(
      { failurePercentageEjection: { threshold: 50, minimumHosts: 2, requestVolume: 10 } },
      { consecutive5xxErrors: 0, baseEjectionTime: '10s' },
    );
    const d = detector(policy, snapshotOf(2));
    traffic(d, A, 0, 10);
    d.sweep();
    expect(d.state().find((s) => s.address === A)?.ejectedUntil).toBe(clock + 10_000);
    clock += 10_000;
    d.sweep();
    expect(d.isEjected(A)).toBe(false);
    traffic(d, A, 0, 10);
    d.sweep();
    expect(d.state().find((s) => s.address === A)?.ejectedUntil).toBe(clock + 20_000);
  });
});

describe('the outlierDetection layer', () => {
  const request = getReviews;

  /** A terminal that answers 503 from A (or resets, when `reset`) and 200 from every other endpoint. */
  const scripted =
    (reset = false): Handler<ClientCallContext> =>
    async (_req, ctx) => {
      const address = ctx.endpoint?.address;
      if (address === A) {
        if (reset) throw new WeftError('WEFT_ERR_UPSTREAM_RESET', 'reset', { endpoint: address });
        return { status: 503, headers: {}, body: address };
      }
      return { status: 200, headers: {}, body: address ?? '' };
    };

  const call = async (handler: Handler<ClientCallContext>, snap: EndpointSnapshot): Promise<string> => {
    const ctx = new ClientCallContext();
    ctx.snapshot = snap;
    try {
      return String((await handler(request, ctx)).body);
    } catch (error) {
      return (error as WeftError).code;
    }
  };

  it('makes balance skip an endpoint once it is ejected', async () => {
    const policy = compileOutlierPolicy({ consecutive5xxErrors: 2, maxEjectionPercent: 50 });
    const layer = outlierDetection({ policyFor: () => policy, now });
    const handler = compose<ClientCallContext>([layer, balance<ClientCallContext>(roundRobin())], scripted());
    const snap = snapshotOf(3);
    const answers: string[] = [];
    for (let i = 0; i < 10; i++) answers.push(await call(handler, snap));
    // A answered twice (calls 1 and 4), then was ejected; B and 3 take the rest.
    expect(answers.filter((a) => a === A)).toHaveLength(2);
    expect(answers.slice(4).every((a) => a !== A)).toBe(true);
    const d = layer.detectors().get(snap.service);
    expect(d?.state().find((s) => s.address === A)).toMatchObject({ ejected: true, ejections: 1 });
    clock += 30_000;
    const after: string[] = [];
    for (let i = 0; i < 3; i++) after.push(await call(handler, snap));
    expect(after).toContain(A);
    await layer.close();
  });

  it('records resets as local-origin failures', async () => {
    const policy = compileOutlierPolicy({
      maxEjectionPercent: 50,
      splitExternalLocalOriginErrors: true,
      consecutiveLocalOriginFailures: 1,
    });
    const layer = outlierDetection({ policyFor: () => policy, now });
    const handler = compose<ClientCallContext>([layer, balance<ClientCallContext>(roundRobin())], scripted(true));
    const snap = snapshotOf(2);
    expect(await call(handler, snap)).toBe('WEFT_ERR_UPSTREAM_RESET');
    expect(layer.detectors().get(snap.service)?.isEjected(A)).toBe(true);
    expect(await call(handler, snap)).toBe(B);
    expect(await call(handler, snap)).toBe(B);
    await layer.close();
  });

  it('reads the policy once per policy snapshot, and follows a new snapshot from its first call', async () => {
    let current: OutlierPolicy | undefined = compileOutlierPolicy({ consecutive5xxErrors: 2, maxEjectionPercent: 50 });
    let reads = 0;
    const layer = outlierDetection({
      policyFor: () => {
        reads++;
        return current;
      },
      now,
    });
    const handler = compose<ClientCallContext>([layer, balance<ClientCallContext>(roundRobin())], scripted());
    const snap = snapshotOf(3);
    const under = async (policy: object): Promise<string> => {
      const ctx = new ClientCallContext();
      ctx.snapshot = snap;
      ctx.policy = policy as ClientCallContext['policy'];
      return String((await handler(request, ctx)).body);
    };
    const first = {};
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await under(first));
    expect(reads).toBe(1);
    expect(answers.slice(4)).not.toContain(A);
    // Outlier detection removed with the next snapshot: the ejected endpoint takes calls again.
    current = undefined;
    const second = {};
    const later: string[] = [];
    for (let i = 0; i < 3; i++) later.push(await under(second));
    expect(reads).toBe(2);
    expect(later).toContain(A);
    await layer.close();
  });

  it('goes straight through without a policy', async () => {
    const layer = outlierDetection({ policyFor: () => undefined, now });
    const handler = compose<ClientCallContext>([layer, balance<ClientCallContext>(roundRobin())], scripted());
    const snap = snapshotOf(2);
    for (let i = 0; i < 10; i++) await call(handler, snap);
    expect(layer.detectors().size).toBe(0);
    await layer.close();
  });
});
