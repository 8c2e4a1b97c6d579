// Locality-aware balancing over real servers: traffic stays in the caller's zone, fails over when it is ejected, comes back, and distribute splits it.
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';

const rule = (trafficPolicy: unknown) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name: 'reviews' },
  spec: { host: 'reviews', trafficPolicy },
});

/** The caller's locality, given as Kubernetes gives a pod's: region and zone labels. */
const inZoneA = { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'za' };

/** Two endpoints in zone A (the caller's) and two in zone B; zone A answers 503 while `failing.a` is set. */
async function twoZones(trafficPolicy: unknown) {
  const failing = { a: false };
  const zoneA = await Promise.all(
    ['a1', 'a2'].map((name) =>
      upstream(name, (_req, res) => {
        res.statusCode = failing.a ? 503 : 200;
        res.end(name);
      }),
    ),
  );
  const zoneB = await Promise.all(['b1', 'b2'].map((name) => upstream(name, (_req, res) => res.end(name))));
  const m = await mesh({
    service: 'productpage',
    labels: inZoneA,
    discovery: {
      static: {
        reviews: [
          ...zoneA.map((u) => ({ address: u.address, locality: 'r1/za' })),
          ...zoneB.map((u) => ({ address: u.address, locality: 'r1/zb' })),
        ],
      },
    },
    policy: rule(trafficPolicy),
  });
  /** `n` calls without retries; which zone answered each, and with what status. */
  const calls = async (n: number) => {
    const out: { zone: string; status: number }[] = [];
    for (let i = 0; i < n; i++) {
      const res = await m.fetch('http://reviews/', { weft: { retries: { attempts: 0 } } });
      out.push({ zone: (await res.text()).startsWith('a') ? 'A' : 'B', status: res.status });
    }
    return out;
  };
  return { failing, m, calls };
}

describe('locality failover', () => {
  it('keeps traffic in the caller’s zone, fails over when its endpoints are ejected, and moves back after the ejection time', async () => {
    const { failing, calls } = await twoZones({
      outlierDetection: {
        consecutive5xxErrors: 1,
        interval: '50ms',
        baseEjectionTime: '400ms',
        maxEjectionPercent: 50,
      },
    });
    // Healthy: every call stays in zone A.
    expect(new Set((await calls(30)).map((c) => c.zone))).toEqual(new Set(['A']));
    // Zone A fails: its two endpoints answer 503 once each and are ejected; then zone B takes everything.
    failing.a = true;
    const during = await calls(30);
    const failures = during.filter((c) => c.status === 503);
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(failures.length).toBeLessThanOrEqual(3);
    expect(during.slice(-20).every((c) => c.zone === 'B' && c.status === 200)).toBe(true);
    // Zone A recovers; once the ejection time is over, traffic goes home.
    failing.a = false;
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(new Set((await calls(30)).map((c) => c.zone))).toEqual(new Set(['A']));
  });

  it('balances across zones when the rule turns locality off (enabled: false)', async () => {
    const { calls } = await twoZones({
      loadBalancer: { localityLbSetting: { enabled: false } },
      outlierDetection: {
        consecutive5xxErrors: 1,
        interval: '50ms',
        baseEjectionTime: '400ms',
        maxEjectionPercent: 50,
      },
    });
    const zones = (await calls(20)).map((c) => c.zone);
    expect(zones.filter((z) => z === 'B')).toHaveLength(10);
  });

  it('does not fail over by locality without outlier detection, as Istio', async () => {
    const { calls } = await twoZones({ loadBalancer: { simple: 'ROUND_ROBIN' } });
    expect((await calls(20)).filter((c) => c.zone === 'B')).toHaveLength(10);
  });
});

describe('locality distribute', () => {
  it('splits the caller’s traffic between zones by the given percentages', async () => {
    const { calls } = await twoZones({
      loadBalancer: { localityLbSetting: { distribute: [{ from: 'r1/za/*', to: { 'r1/za': 80, 'r1/zb': 20 } }] } },
    });
    const n = 800;
    const toB = (await calls(n)).filter((c) => c.zone === 'B').length / n;
    // Binomial spread at 800 calls is 1.4 points; 5 points of tolerance.
    expect(Math.abs(toB - 0.2)).toBeLessThan(0.05);
  });
});
