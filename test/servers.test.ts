// End to end: Express and Fastify services on the mesh, called by weft's axios and fetch clients.
import type { Mesh, MeshServer } from '@weft/mesh';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { mesh } from './support/lifecycle.js';

/** A reviews service on Express behind weft's middleware; answers with its version and what the mesh told it. */
async function expressReviews(version: string): Promise<{ mesh: Mesh; server: MeshServer }> {
  const m = await mesh({ service: 'reviews', version });
  const app = express();
  app.use(m.express());
  app.get('/reviews/:id', (req, res) => {
    res.json({ id: req.params.id, version, local: req.weft?.localService, remote: req.weft?.remoteAddress });
  });
  app.post('/reviews', express.json(), (req, res) => {
    res.status(201).json({ got: req.body, version });
  });
  return { mesh: m, server: await m.listen(app) };
}

/** The same on Fastify behind weft's plugin. */
async function fastifyReviews(version: string): Promise<{ mesh: Mesh; server: MeshServer }> {
  const m = await mesh({ service: 'reviews', version });
  const app = Fastify();
  await app.register(m.fastify());
  app.get<{ Params: { id: string } }>('/reviews/:id', async (req) => ({
    id: req.params.id,
    version,
    local: req.weft?.localService,
    remote: req.weft?.remoteAddress,
  }));
  app.post('/reviews', async (req, reply) => reply.code(201).send({ got: req.body, version }));
  return { mesh: m, server: await m.listen(app) };
}

const pairs = [
  ['Express', expressReviews],
  ['Fastify', fastifyReviews],
] as const;

describe.each(pairs)('%s services on the mesh', (_name, start) => {
  it('take turns answering an axios caller and see the call in req.weft', async () => {
    const services = await Promise.all(['v1', 'v2', 'v3'].map(start));
    const caller = await mesh({
      service: 'productpage',
      discovery: {
        static: {
          reviews: services.map((s, i) => ({
            address: `127.0.0.1:${s.server.port}`,
            labels: { version: `v${i + 1}` },
          })),
        },
      },
    });
    const versions: string[] = [];
    for (let i = 0; i < 6; i++) {
      const { data } = await caller.axios('reviews').get('/reviews/7');
      expect(data).toMatchObject({ id: '7', local: 'reviews.default.svc.cluster.local', remote: '127.0.0.1' });
      versions.push(data.version);
    }
    expect(versions).toEqual(['v1', 'v2', 'v3', 'v1', 'v2', 'v3']);
    for (const s of services) {
      const inbound = s.mesh.stats().inbound[0];
      expect(inbound).toMatchObject({
        service: 'reviews.default.svc.cluster.local',
        requests: 2,
        statuses: { 200: 2 },
      });
    }
  });

  it('answer a fetch caller, bodies and statuses intact', async () => {
    const s = await start('v1');
    const caller = await mesh({
      service: 'productpage',
      discovery: { static: { reviews: [`127.0.0.1:${s.server.port}`] } },
    });
    const res = await caller.fetch('http://reviews/reviews', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ stars: 4 }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ got: { stars: 4 }, version: 'v1' });
    const missing = await caller.fetch('http://reviews/nothing-here');
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
    await expect.poll(() => s.mesh.stats().inbound[0]?.statuses).toEqual({ 201: 1, 404: 1 });
  });

  it('serve plain callers that are not on the mesh', async () => {
    const s = await start('v2');
    const res = await fetch(`${s.server.url}/reviews/1`);
    expect(await res.json()).toMatchObject({ id: '1', version: 'v2' });
  });
});
