// Deadline propagation: what is left of a caller's deadline travels to the next weft service and bounds the calls it makes.
import type { Mesh } from '@weft/mesh';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { mesh, upstream } from './support/lifecycle.js';

/** C: answers after 1 s, recording the deadline header it was given. */
async function slowService() {
  const seen: (string | undefined)[] = [];
  const u = await upstream('slow', (req, res) => {
    seen.push(req.headers['x-envoy-expected-rq-timeout-ms'] as string | undefined);
    setTimeout(() => res.end('late'), 1_000).unref();
  });
  return { u, seen };
}

/** B: on `framework`, a service that calls C through its own mesh with no timeout of its own. */
async function middleService(
  framework: 'express' | 'fastify',
  slowAddress: string,
  inboundDeadlines?: 'mesh' | 'any' | 'none',
) {
  const m: Mesh = await mesh({
    service: 'middle',
    discovery: { static: { slow: [slowAddress] } },
    ...(inboundDeadlines === undefined ? {} : { inboundDeadlines }),
  });
  const callSlow = async (): Promise<{ outcome: string; ms: number }> => {
    const started = Date.now();
    const outcome = await m
      .fetch('http://slow/')
      .then((r) => r.text())
      .catch((e: { code?: string }) => e.code ?? 'untyped');
    return { outcome, ms: Date.now() - started };
  };
  if (framework === 'express') {
    const app = express();
    app.use(m.express());
    app.get('/', async (_req, res) => {
      res.json(await callSlow());
    });
    return { m, server: await m.listen(app) };
  }
  const app = Fastify();
  await app.register(m.fastify());
  app.get('/', async () => callSlow());
  return { m, server: await m.listen(app) };
}

describe.each(['express', 'fastify'] as const)('deadline propagation through %s', (framework) => {
  it("bounds the next service's own calls by what is left of the caller's deadline", async () => {
    const c = await slowService();
    const b = await middleService(framework, c.u.address);
    const a = await mesh({ service: 'front', discovery: { static: { middle: [b.server.address] } } });
    const started = Date.now();
    const error = await a
      .axios('middle')
      .get('/', { timeout: 300 })
      .catch((e: { code?: string }) => e.code);
    expect(error).toBe('WEFT_ERR_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(800);
    // B's call to C was given less than A's 300 ms, and failed on its own deadline, well before C's 1 s.
    await expect.poll(() => c.seen.length).toBe(1);
    expect(Number(c.seen[0])).toBeGreaterThan(0);
    expect(Number(c.seen[0])).toBeLessThanOrEqual(300);
    const inbound = b.m.stats().outbound.find((s) => s.service.startsWith('slow.'));
    await expect.poll(() => b.m.stats().outbound[0]?.errors).toEqual({ WEFT_ERR_TIMEOUT: 1 });
    expect(inbound?.latencyMs.max ?? 0).toBeLessThan(600);
  });

  it('ignores a deadline header from outside the mesh unless told to trust it', async () => {
    const c = await slowService();
    const b = await middleService(framework, c.u.address);
    const started = Date.now();
    const res = await fetch(`${b.server.url}/`, { headers: { 'x-envoy-expected-rq-timeout-ms': '100' } });
    const body = (await res.json()) as { outcome: string; ms: number };
    expect(body.outcome).toBe('late');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(c.seen).toEqual([undefined]);

    const trusting = await middleService(framework, c.u.address, 'any');
    const trusted = (await (
      await fetch(`${trusting.server.url}/`, { headers: { 'x-envoy-expected-rq-timeout-ms': '100' } })
    ).json()) as { outcome: string; ms: number };
    expect(trusted.outcome).toBe('WEFT_ERR_TIMEOUT');
    expect(trusted.ms).toBeLessThan(600);
  });
});
