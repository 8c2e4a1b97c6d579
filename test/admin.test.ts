// The admin endpoint over real HTTP: the policy in force, each destination's state, counters, identity, readiness.
import { CertificateAuthority } from '@weft/security';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { run } from '../packages/cli/dist/cli.js';
import { mesh, upstream } from './support/lifecycle.js';

async function get(url: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

describe('admin endpoint', () => {
  it('serves config_dump, clusters, stats, certs, ready and healthz on loopback', async () => {
    const ca = await CertificateAuthority.create();
    const bad = await upstream('bad', (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const good = await upstream('good');
    const m = await mesh({
      service: 'productpage',
      security: { identity: { ca } },
      discovery: {
        static: {
          reviews: [
            { address: bad.address, labels: { 'security.istio.io/tlsMode': 'disabled' } },
            { address: good.address, labels: { 'security.istio.io/tlsMode': 'disabled' } },
          ],
        },
      },
      policy: {
        service: 'reviews',
        outlierDetection: { consecutive5xxErrors: 2, baseEjectionTime: '30s', maxEjectionPercent: 50 },
        breaker: { minimumCalls: 100 },
      },
      logger: false,
    });
    for (let i = 0; i < 6; i++)
      await (await m.fetch('http://reviews/', { weft: { retries: { attempts: 0 } } })).arrayBuffer();

    const admin = await m.admin();
    expect(admin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await m.admin()).toBe(admin);

    const dump = JSON.parse((await get(`${admin.url}/config_dump`)).body) as {
      version: number;
      resources: { kind: string }[];
    };
    expect(dump.version).toBeGreaterThan(0);
    expect(dump.resources.map((r) => r.kind)).toEqual(['DestinationRule']);

    const clusters = JSON.parse((await get(`${admin.url}/clusters`)).body) as {
      destinations: { service: string; endpoints: { address: string; ejected: boolean }[] }[];
      breakers: { destination: string; state: string }[];
    };
    const reviews = clusters.destinations.find((d) => d.service === 'reviews.default.svc.cluster.local');
    expect(reviews?.endpoints.find((e) => e.address === bad.address)?.ejected).toBe(true);
    expect(reviews?.endpoints.find((e) => e.address === good.address)?.ejected).toBe(false);
    expect(clusters.breakers).toEqual([
      expect.objectContaining({ destination: 'reviews.default.svc.cluster.local', state: 'closed' }),
    ]);

    const stats = JSON.parse((await get(`${admin.url}/stats`)).body) as { outbound: { requests: number }[] };
    expect(stats.outbound[0]?.requests).toBe(6);

    const certs = JSON.parse((await get(`${admin.url}/certs`)).body) as { identity: string; expiresInSeconds: number };
    expect(certs.identity).toBe('spiffe://cluster.local/ns/default/sa/productpage');
    expect(certs.expiresInSeconds).toBeGreaterThan(23 * 3600);

    // weft describe reads the same endpoint and prints the service for a person.
    let out = '';
    let err = '';
    const io = { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } };
    expect(await run(['describe', 'reviews', '--admin', admin.url], io)).toBe(0);
    expect(out).toContain('reviews.default.svc.cluster.local');
    expect(out).toContain('DestinationRule default/reviews');
    expect(out).toMatch(new RegExp(`${bad.address.replace(/[.]/g, '\\.')}\\s+EJECTED`));
    expect(out).toContain('circuit breaker: closed');
    expect(out).toContain('6 requests');
    expect(out).toContain('spiffe://cluster.local/ns/default/sa/productpage');
    expect(await run(['describe', 'nosuch', '--admin', admin.url], io)).toBe(1);
    expect(err).toContain('knows no service "nosuch"');

    expect(await get(`${admin.url}/ready`)).toMatchObject({ status: 200, body: 'LIVE\n' });
    expect(await get(`${admin.url}/healthz`)).toMatchObject({ status: 200 });
    const prometheus = await get(`${admin.url}/stats/prometheus`);
    expect(prometheus.type).toContain('text/plain');
    expect(prometheus.body).toMatch(/istio_requests_total\{[^}]*reporter="source"[^}]*response_code="503"[^}]*\} 2/);
    expect((await get(`${admin.url}/nope`)).status).toBe(404);
    expect((await fetch(`${admin.url}/clusters`, { method: 'POST' })).status).toBe(405);
  });

  it('says so when security is off, and closes with the mesh', async () => {
    const m = await mesh({ service: 'ratings', logger: false });
    const app = express();
    app.use(m.express());
    await m.listen(app);
    const admin = await m.admin();
    expect(JSON.parse((await get(`${admin.url}/certs`)).body)).toMatchObject({ identity: null });
    await m.close();
    await expect(fetch(`${admin.url}/healthz`)).rejects.toThrow();
  });
});
