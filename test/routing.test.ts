// Routing by VirtualService over real servers: Istio's Bookinfo scenarios from their own YAML, and every route action.
import { type createMesh, isWeftError, type Mesh } from '@weft/mesh';
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';
import type { Upstream } from './support/upstreams.js';

const bookinfo = (file: string) => new URL(`./fixtures/istio/bookinfo/${file}`, import.meta.url).pathname;

/** reviews v1, v2 and v3 on loopback, each answering with its version and what it received. */
async function reviewsVersions(): Promise<Upstream[]> {
  return Promise.all(['v1', 'v2', 'v3'].map((v) => upstream(v)));
}

async function productpage(versions: Upstream[], policy: Parameters<typeof createMesh>[0]['policy']): Promise<Mesh> {
  return mesh({
    service: 'productpage',
    discovery: {
      static: {
        reviews: versions.map((u) => ({ address: u.address, labels: { version: u.name } })),
      },
    },
    policy,
  });
}

async function versionOf(m: Mesh, headers: Record<string, string> = {}, path = '/reviews/0'): Promise<string> {
  const res = await m.fetch(`http://reviews${path}`, { headers });
  return ((await res.json()) as { name: string }).name;
}

/** Sends `n` calls, `concurrency` at a time, and counts the versions that answered. */
async function split(m: Mesh, n: number, concurrency = 32): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let sent = 0;
  const worker = async () => {
    while (sent < n) {
      sent++;
      const v = await versionOf(m);
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

/** Pearson's chi-squared statistic of observed counts against expected shares. */
function chiSquared(observed: Map<string, number>, shares: Record<string, number>, n: number): number {
  let chi = 0;
  for (const [key, share] of Object.entries(shares)) {
    const expected = share * n;
    const o = observed.get(key) ?? 0;
    chi += (o - expected) ** 2 / expected;
  }
  return chi;
}

describe("Istio's Bookinfo routing scenarios, from their YAML", () => {
  const rules = bookinfo('destination-rule-all.yaml');

  it('sends all traffic to reviews v1', async () => {
    const m = await productpage(await reviewsVersions(), [rules, bookinfo('virtual-service-all-v1.yaml')]);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) seen.add(await versionOf(m));
    expect([...seen]).toEqual(['v1']);
  });

  it('sends the user jason to v2 and everyone else to v1', async () => {
    const m = await productpage(await reviewsVersions(), [rules, bookinfo('virtual-service-reviews-test-v2.yaml')]);
    for (let i = 0; i < 5; i++) {
      expect(await versionOf(m, { 'end-user': 'jason' })).toBe('v2');
      expect(await versionOf(m, { 'end-user': 'alice' })).toBe('v1');
      expect(await versionOf(m)).toBe('v1');
    }
  });

  it('splits 50/50 between v1 and v3 (10,000 calls, chi-squared at p = 0.001)', async () => {
    const m = await productpage(await reviewsVersions(), [rules, bookinfo('virtual-service-reviews-50-v3.yaml')]);
    const counts = await split(m, 10_000);
    expect([...counts.keys()].sort()).toEqual(['v1', 'v3']);
    // Critical value of chi-squared with 1 degree of freedom at p = 0.001.
    expect(chiSquared(counts, { v1: 0.5, v3: 0.5 }, 10_000)).toBeLessThan(10.828);
  });

  it('splits 90/10 between v1 and v2 (10,000 calls, chi-squared at p = 0.001)', async () => {
    const m = await productpage(await reviewsVersions(), [rules, bookinfo('virtual-service-reviews-90-10.yaml')]);
    const counts = await split(m, 10_000);
    expect([...counts.keys()].sort()).toEqual(['v1', 'v2']);
    expect(chiSquared(counts, { v1: 0.9, v2: 0.1 }, 10_000)).toBeLessThan(10.828);
  });

  it('moves traffic as the weights change at run time through the policy', async () => {
    const m = await productpage(await reviewsVersions(), [rules, bookinfo('virtual-service-all-v1.yaml')]);
    expect(await versionOf(m)).toBe('v1');
    await m.policy.update([rules, bookinfo('virtual-service-reviews-v3.yaml')]);
    expect(await versionOf(m)).toBe('v3');
  });
});

const vs = (http: unknown[]) => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: { name: 'reviews' },
  spec: { hosts: ['reviews'], http },
});
const subsets = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name: 'reviews' },
  spec: {
    host: 'reviews',
    subsets: ['v1', 'v2', 'v3'].map((v) => ({ name: v, labels: { version: v } })),
  },
};

describe('route matching and actions', () => {
  it('refuses a request no route matches with WEFT_ERR_NO_ROUTE (NR), sending nothing', async () => {
    const versions = await reviewsVersions();
    const m = await productpage(versions, [
      subsets,
      vs([{ match: [{ uri: { prefix: '/api/' } }], route: [{ destination: { host: 'reviews', subset: 'v1' } }] }]),
    ]);
    expect(await versionOf(m, {}, '/api/x')).toBe('v1');
    const error = await m.fetch('http://reviews/other').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEFT_ERR_NO_ROUTE', flag: 'NR', status: 404 });
    expect(versions.every((u) => u.seen.every((s) => s.url.startsWith('/api/')))).toBe(true);
  });

  it('matches on method, query parameters, regex uris, withoutHeaders and the caller labels', async () => {
    const m = await productpage(await reviewsVersions(), [
      subsets,
      vs([
        { match: [{ method: { exact: 'POST' } }], route: [{ destination: { host: 'reviews', subset: 'v3' } }] },
        {
          match: [{ queryParams: { beta: { exact: '1' } } }],
          route: [{ destination: { host: 'reviews', subset: 'v2' } }],
        },
        {
          match: [{ uri: { regex: '/reviews/[0-9]+/stars' } }],
          route: [{ destination: { host: 'reviews', subset: 'v3' } }],
        },
        {
          match: [{ sourceLabels: { app: 'somebody-else' } }],
          route: [{ destination: { host: 'reviews', subset: 'v3' } }],
        },
        {
          match: [{ withoutHeaders: { 'x-canary': {} } }],
          route: [{ destination: { host: 'reviews', subset: 'v1' } }],
        },
        { route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
      ]),
    ]);
    const post = await m.fetch('http://reviews/x', { method: 'POST', body: '{}' });
    expect(((await post.json()) as { name: string }).name).toBe('v3');
    expect(await versionOf(m, {}, '/x?beta=1')).toBe('v2');
    expect(await versionOf(m, {}, '/reviews/12/stars')).toBe('v3');
    expect(await versionOf(m, {}, '/reviews/12/stars/x')).toBe('v1'); // a regex match is a full match
    expect(await versionOf(m, { 'x-canary': 'yes' })).toBe('v2');
    expect(await versionOf(m)).toBe('v1');
  });

  it('answers a direct response and a redirect without calling the service', async () => {
    const versions = await reviewsVersions();
    const m = await productpage(versions, [
      subsets,
      vs([
        {
          match: [{ uri: { exact: '/health' } }],
          directResponse: { status: 418, body: { string: 'short and stout' } },
        },
        { match: [{ uri: { prefix: '/old/' } }], redirect: { uri: '/new/', authority: 'reviews:9080' } },
        { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      ]),
    ]);
    const direct = await m.fetch('http://reviews/health');
    expect([direct.status, await direct.text()]).toEqual([418, 'short and stout']);
    const moved = await m.fetch('http://reviews/old/a?x=1');
    expect(moved.status).toBe(301);
    expect(moved.headers.get('location')).toBe('http://reviews:9080/new/?x=1');
    expect(versions.flatMap((u) => u.seen)).toEqual([]);
  });

  it('rewrites the uri prefix and authority and sets, adds and removes headers, both ways', async () => {
    const versions = await reviewsVersions();
    const m = await productpage(versions, [
      subsets,
      vs([
        {
          match: [{ uri: { prefix: '/v1/' } }],
          rewrite: { uri: '/api/', authority: 'reviews.internal' },
          headers: {
            request: { set: { 'x-set': 'yes' }, remove: ['x-secret'] },
            response: { add: { 'x-served-by': 'weft' }, remove: ['x-powered-by'] },
          },
          route: [{ destination: { host: 'reviews', subset: 'v2' } }],
        },
      ]),
    ]);
    const res = await m.fetch('http://reviews/v1/items?page=2', { headers: { 'x-secret': 's3cret' } });
    expect(await res.json()).toMatchObject({ name: 'v2', url: '/api/items?page=2', host: 'reviews.internal' });
    expect(res.headers.get('x-served-by')).toBe('weft');
    expect(versions[1]?.seen).toHaveLength(1);
  });

  it('fails with WEFT_ERR_UNKNOWN_DESTINATION (NC) for a subset no DestinationRule defines', async () => {
    const m = await productpage(await reviewsVersions(), [
      vs([{ route: [{ destination: { host: 'reviews', subset: 'v9' } }] }]),
    ]);
    const error = await m.fetch('http://reviews/').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEFT_ERR_UNKNOWN_DESTINATION', flag: 'NC' });
    expect((error as Error).message).toContain('subset "v9"');
  });

  it("applies the route's timeout as the call's limit, and the call's own over it", async () => {
    const slow = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('late'), 1_000).unref();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [slow.address] } },
      policy: vs([{ timeout: '50ms', route: [{ destination: { host: 'reviews' } }] }]),
    });
    const started = Date.now();
    expect(await m.fetch('http://reviews/').catch((e: unknown) => (isWeftError(e) ? e.code : e))).toBe(
      'WEFT_ERR_TIMEOUT',
    );
    expect(Date.now() - started).toBeLessThan(800);
    const own = await m
      .axios('reviews')
      .get('/', { timeout: 20 })
      .catch((e: unknown) => e);
    expect(isWeftError(own, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect((own as Error).message).toContain('20 ms');
  });
});

describe('mesh.policy.explain', () => {
  it('says which route matched, why earlier ones did not, and where each setting came from', async () => {
    const m = await productpage(await reviewsVersions(), [
      bookinfo('destination-rule-all.yaml'),
      bookinfo('virtual-service-reviews-test-v2.yaml'),
    ]);
    const jason = m.policy.explain({ url: 'http://reviews/reviews/0', headers: { 'end-user': 'jason' } });
    expect(jason.outcome).toBe('route');
    expect(jason.routes).toEqual([expect.objectContaining({ index: 0, matched: true })]);
    expect(jason.destinations).toEqual([
      expect.objectContaining({
        host: 'reviews.default.svc.cluster.local',
        subset: 'v2',
        share: 1,
        endpoints: [expect.any(String)],
      }),
    ]);
    const other = m.policy.explain({ url: 'http://reviews/reviews/0' });
    expect(other.routes[0]).toMatchObject({ matched: false, why: 'match[0] needs header end-user exact "jason"' });
    expect(other.routes[1]).toMatchObject({ matched: true, why: 'no match: takes every request' });
    expect(other.summary).toMatch(
      /^route default\/reviews http\[1\] at .*virtual-service-reviews-test-v2\.yaml:\d+:\d+ matched: 100% to reviews\.default\.svc\.cluster\.local subset v1 \(1 endpoints\)$/,
    );
    expect(other.timeout).toEqual({ value: 'none', from: 'weft default (as Istio: no route timeout)' });
    expect(other.retries.from).toBe("Istio's default retry policy");
  });

  it('explains a request that matches no route, and a host outside the mesh', async () => {
    const m = await productpage(await reviewsVersions(), [
      subsets,
      vs([
        {
          match: [{ uri: { prefix: '/api/' } }, { method: { exact: 'POST' } }],
          route: [{ destination: { host: 'reviews' } }],
        },
      ]),
    ]);
    const none = m.policy.explain({ url: 'http://reviews/x' });
    expect(none.outcome).toBe('no-route');
    expect(none.routes[0]?.why).toBe('match[0] needs uri prefix "/api/"; match[1] needs method exact "POST"');
    expect(m.policy.explain({ url: 'http://example.test/' }).outcome).toBe('not-in-mesh');
  });
});

describe('fault injection and mirroring, per route', () => {
  async function ratings(policy: unknown[]) {
    const v1 = await upstream('ratings-v1');
    const m = await mesh({
      service: 'reviews',
      version: 'v2',
      discovery: { static: { ratings: [{ address: v1.address, labels: { version: 'v1' } }] } },
      policy: policy as Parameters<typeof createMesh>[0]['policy'],
    });
    return { v1, m };
  }

  it("delays jason's calls to ratings by 7 s, which his caller's shorter limit sees as a timeout (Bookinfo's YAML)", async () => {
    const { v1, m } = await ratings([
      bookinfo('destination-rule-all.yaml'),
      bookinfo('virtual-service-ratings-test-delay.yaml'),
    ]);
    const started = Date.now();
    const error = await m
      .axios('ratings')
      .get('/ratings/0', { timeout: 300, headers: { 'end-user': 'jason' } })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WEFT_ERR_TIMEOUT', flag: 'UT' });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(v1.seen).toHaveLength(0);
    const others = await m.axios('ratings').get('/ratings/0', { timeout: 300 });
    expect(others.status).toBe(200);
  });

  it("aborts jason's calls to ratings with 500, and only his (Bookinfo's YAML)", async () => {
    const { v1, m } = await ratings([
      bookinfo('destination-rule-all.yaml'),
      bookinfo('virtual-service-ratings-test-abort.yaml'),
    ]);
    const aborted = await m.fetch('http://ratings/ratings/0', { headers: { 'end-user': 'jason' } });
    expect([aborted.status, await aborted.text()]).toEqual([500, 'fault filter abort']);
    expect(v1.seen).toHaveLength(0);
    expect((await m.fetch('http://ratings/ratings/0')).status).toBe(200);
  });

  it('mirrors calls to another service with a -shadow host, never holding the primary call', async () => {
    const primary = await upstream('primary');
    const shadow = await upstream('shadow', (_req, res) => {
      setTimeout(() => res.end('slow shadow'), 300).unref();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [primary.address], 'reviews-next': [shadow.address] } },
      policy: [
        vs([
          {
            route: [{ destination: { host: 'reviews' } }],
            mirror: { host: 'reviews-next' },
            mirrorPercentage: { value: 100 },
          },
        ]),
      ],
    });
    const started = Date.now();
    const res = await m.fetch('http://reviews/r?x=1', { method: 'POST', body: 'hello' });
    expect(await res.json()).toMatchObject({ name: 'primary', body: 'hello' });
    expect(Date.now() - started).toBeLessThan(250);
    await expect.poll(() => shadow.seen.length).toBe(1);
    expect(shadow.seen[0]).toMatchObject({ method: 'POST', url: '/r?x=1', host: 'reviews-shadow', body: 'hello' });
  });
});

describe('per-call overrides in code', () => {
  it("lets a call's own timeout win over its route's, for axios and for fetch", async () => {
    const slow = await upstream('slow', (_req, res) => {
      setTimeout(() => res.end('done'), 150).unref();
    });
    const m = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [slow.address] } },
      policy: vs([{ timeout: '50ms', route: [{ destination: { host: 'reviews' } }] }]),
    });
    expect((await m.axios('reviews').get('/', { weft: { timeout: '2s' } })).data).toBe('done');
    expect(await (await m.fetch('http://reviews/', { weft: { timeout: 2_000 } })).text()).toBe('done');
    const short = await m.fetch('http://reviews/', { weft: { timeout: '10ms' } }).catch((e: unknown) => e);
    expect(short).toMatchObject({ code: 'WEFT_ERR_TIMEOUT' });
  });
});

describe('more match fields and the regex rewrite, over real servers', () => {
  it('matches ignoreUriCase, authority, port, scheme and source namespace, and rewrites by regex', async () => {
    const versions = await reviewsVersions();
    const m = await productpage(versions, [
      subsets,
      vs([
        {
          match: [{ uri: { exact: '/CaSe' }, ignoreUriCase: true }],
          route: [{ destination: { host: 'reviews', subset: 'v3' } }],
        },
        {
          match: [{ authority: { prefix: 'reviews.default' } }],
          route: [{ destination: { host: 'reviews', subset: 'v2' } }],
        },
        { match: [{ port: 9080 }], route: [{ destination: { host: 'reviews', subset: 'v3' } }] },
        { match: [{ sourceNamespace: 'elsewhere' }], route: [{ destination: { host: 'reviews', subset: 'v3' } }] },
        {
          match: [{ scheme: { exact: 'http' }, uri: { regex: '/books/[0-9]+/reviews' } }],
          rewrite: { uriRegexRewrite: { match: '/books/([0-9]+)/reviews', rewrite: '/reviews/\\1' } },
          route: [{ destination: { host: 'reviews', subset: 'v2' } }],
        },
        { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      ]),
    ]);
    expect(await versionOf(m, {}, '/case')).toBe('v3');
    expect(((await (await m.fetch('http://reviews.default/x')).json()) as { name: string }).name).toBe('v2');
    expect(((await (await m.fetch('http://reviews:9080/x')).json()) as { name: string }).name).toBe('v3');
    const rewritten = (await (await m.fetch('http://reviews/books/42/reviews?x=1')).json()) as {
      name: string;
      url: string;
    };
    expect(rewritten).toMatchObject({ name: 'v2', url: '/reviews/42?x=1' });
    expect(await versionOf(m, {}, '/other')).toBe('v1');
  });
});
