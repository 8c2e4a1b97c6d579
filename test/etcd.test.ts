// Discovery through a real etcd: registration with leases, watches, a process killed, etcd itself stopped and restarted.
import { spawn } from 'node:child_process';
import { createMesh, type Mesh } from '@weft/mesh';
import { Etcd3 } from 'etcd3';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdServer, startEtcd } from './support/etcd.js';
import { mesh } from './support/lifecycle.js';
import { continuousLoad } from './support/load.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { until } from './support/wait.js';

let etcd: EtcdServer;
beforeAll(async () => {
  etcd = await startEtcd();
}, 20_000);
afterAll(async () => {
  await etcd?.close();
});

const endpointsOf = (m: Mesh, host: string) => m.registry.lookup(host)?.snapshot.endpoints.map((e) => e.address) ?? [];

/** A service that registers itself in etcd when it listens. */
async function registeredService(name: string, prefix: string, ttl = 10, deregisterGraceMs = 0) {
  const m = await createMesh({
    service: name,
    discovery: {
      etcd: { hosts: [etcd.url], prefix, register: true, watch: false, leaseTtlSeconds: ttl, deregisterGraceMs },
    },
    logger: false,
  });
  const app = express();
  app.use(m.express());
  let calls = 0;
  app.get(/.*/, (_req, res) => {
    calls++;
    res.json({ served: name });
  });
  const server = await m.listen(app);
  return { m, server, calls: () => calls };
}

describe('etcd discovery', () => {
  it('sees a service register on listen and deregister on close, and calls it in between', async () => {
    const prefix = '/weft-a/';
    const caller = await mesh({
      service: 'productpage',
      discovery: { etcd: { hosts: [etcd.url], prefix } },
      logger: false,
    });
    const reviews = await registeredService('reviews', prefix);
    await until(() => endpointsOf(caller, 'reviews').includes(reviews.server.address), 8_000);
    const res = await caller.fetch('http://reviews/r');
    expect(await res.json()).toEqual({ served: 'reviews' });
    await reviews.m.close();
    await until(() => endpointsOf(caller, 'reviews').length === 0, 8_000);
  });

  it('removes a process killed with SIGKILL once its lease runs out', async () => {
    const prefix = '/weft-b/';
    const caller = await mesh({
      service: 'productpage',
      discovery: { etcd: { hosts: [etcd.url], prefix } },
      logger: false,
    });
    const script = `
      const { createMesh } = await import('@weft/mesh');
      const m = await createMesh({ service: 'ratings', discovery: { etcd: { hosts: [${JSON.stringify(etcd.url)}], prefix: ${JSON.stringify(prefix)}, register: true, watch: false, leaseTtlSeconds: 2 } }, logger: false });
      const s = await m.listen((req, res) => res.end('ok'));
      console.log('listening ' + s.address);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: process.cwd(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const address = await new Promise<string>((resolve, reject) => {
      child.stdout?.on('data', (d: Buffer) => {
        const m = /listening (\S+)/.exec(d.toString());
        if (m?.[1] !== undefined) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`child exited (${code}) before listening`)));
    });
    await until(() => endpointsOf(caller, 'ratings').includes(address), 8_000);
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await until(() => endpointsOf(caller, 'ratings').length === 0, 10_000);
    // Not at once: only when the 2 s lease ran out.
    expect(Date.now() - killedAt).toBeGreaterThan(500);
  });

  it('keeps its endpoints and serves calls while etcd is down, and resyncs what changed once it is back', async () => {
    const prefix = '/weft-c/';
    const errors: string[] = [];
    const caller = await mesh({
      service: 'productpage',
      discovery: { etcd: { hosts: [etcd.url], prefix } },
      logger: { warn: (_f: object, m: string) => errors.push(m), info: () => {}, debug: () => {} },
    });
    const details = await registeredService('details', prefix, 30);
    await until(() => endpointsOf(caller, 'details').length === 1, 8_000);

    // Calls run in a loop (4 at a time, bounded) through the stop and the restart; none may fail.
    const load = continuousLoad(() => caller.fetch('http://details/d'));
    let second: Awaited<ReturnType<typeof registeredService>> | undefined;
    try {
      await etcd.stop();
      const okWhenStopped = load.ok;
      // The source shows stale, on the admin endpoint's data and as a metric; calls keep going to the endpoint it knew.
      await until(
        () => caller.registry.sources().some((s) => s.name.startsWith('etcd') && s.stale !== undefined),
        8_000,
      );
      expect(await caller.metrics()).toMatch(/weft_discovery_source_stale_seconds\{source="etcd"\} [0-9.]*[1-9]/);
      await until(() => load.ok > okWhenStopped + 50, 8_000);
      expect(endpointsOf(caller, 'details')).toEqual([details.server.address]);

      await etcd.start();
      // A second instance registers after the restart; the watching mesh sees it.
      second = await registeredService('details', prefix, 30);
      await until(() => endpointsOf(caller, 'details').length === 2, 15_000);
      await until(() => second !== undefined && second.calls() > 0, 8_000);
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    expect(endpointsOf(caller, 'details').sort()).toEqual([details.server.address, second.server.address].sort());
    expect(caller.registry.sources().find((s) => s.name.startsWith('etcd'))?.stale).toBeUndefined();
    await second.m.close();
    await details.m.close();
  }, 40_000);

  it('takes a whole fleet’s policy from etcd in one write: every watching mesh applies it; a bad one is refused by each and the old one keeps serving', async () => {
    const prefix = '/weft-policy-d/';
    const v1 = await registeredService('reviews', '/weft-d/');
    const v2 = await registeredService('reviews', '/weft-d/');
    const labelled = (address: string, version: string) => ({ address, labels: { version } });
    const fleet = await Promise.all(
      [1, 2].map((i) =>
        mesh({
          service: `caller${i}`,
          discovery: { static: { reviews: [labelled(v1.server.address, 'v1'), labelled(v2.server.address, 'v2')] } },
          etcdPolicy: { hosts: [etcd.url], prefix },
          logger: false,
        }),
      ),
    );
    const writer = new Etcd3({ hosts: [etcd.url] });
    try {
      const split = (subset: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews, subset: ${subset} }
`;
      await writer.put(`${prefix}reviews.yaml`).value(split('v2'));
      await until(() => fleet.every((m) => m.policy.current().ofKind('VirtualService').length === 1), 8_000);
      for (const m of fleet) {
        for (let i = 0; i < 4; i++) {
          const res = await m.fetch('http://reviews/');
          await res.arrayBuffer();
        }
        expect(m.stats().outbound[0]?.endpoints.map((e) => e.address)).toEqual([v2.server.address]);
      }
      const before = fleet.map((m) => m.policy.current().version);
      // A typo: every mesh refuses it, names the key and line, and keeps routing to v2.
      await writer.put(`${prefix}reviews.yaml`).value(split('v2').replace('destination:', 'destinaton:'));
      await until(() => fleet.every((m) => m.policy.lastError !== undefined), 8_000);
      for (const [i, m] of fleet.entries()) {
        expect(m.policy.current().version).toBe(before[i]);
        expect(m.policy.lastError?.message).toMatch(/etcd:\/weft-policy-d\/reviews\.yaml:\d+:\d+/);
      }
    } finally {
      writer.close();
      await v1.m.close();
      await v2.m.close();
    }
  });

  it('lets a service restart its replicas one by one under continuous load with no failed request', async () => {
    const prefix = '/weft-e/';
    const caller = await mesh({
      service: 'productpage',
      discovery: { etcd: { hosts: [etcd.url], prefix } },
      logger: false,
    });
    const replicas = [];
    for (let i = 0; i < 3; i++) replicas.push(await registeredService('reviews', prefix, 10, 300));
    await until(() => endpointsOf(caller, 'reviews').length === 3, 8_000);
    const load = continuousLoad(() => caller.fetch('http://reviews/'), { maxCalls: 200_000 });
    try {
      for (let i = 0; i < replicas.length; i++) {
        const old = replicas[i];
        const fresh = await registeredService('reviews', prefix, 10, 300);
        await until(() => endpointsOf(caller, 'reviews').includes(fresh.server.address), 8_000);
        await old?.m.close();
        replicas[i] = fresh;
      }
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    expect(load.ok).toBeGreaterThan(100);
    expect(endpointsOf(caller, 'reviews').sort()).toEqual(replicas.map((r) => r.server.address).sort());
    await Promise.all(replicas.map((r) => r.m.close()));
  }, 40_000);

  it('follows only the services it calls: each one from its first call, or those it names', async () => {
    const prefix = '/weft-f/';
    const reviews = await registeredService('reviews', prefix);
    const ratings = await registeredService('ratings', prefix);
    const known = (m: Mesh) => m.registry.snapshots().map((s) => s.service.split('.')[0]);

    const onDemand = await mesh({
      service: 'productpage',
      discovery: { etcd: { hosts: [etcd.url], prefix, services: 'called' } },
      outboundTrafficPolicy: 'REGISTRY_ONLY',
      logger: false,
    });
    expect(known(onDemand)).not.toContain('reviews');
    // The first call waits for the one read of reviews' keys, and goes there.
    const calls = await Promise.all([1, 2, 3].map(() => onDemand.fetch('http://reviews/r')));
    expect(await Promise.all(calls.map((r) => r.json()))).toEqual(Array(3).fill({ served: 'reviews' }));
    expect(known(onDemand)).toContain('reviews');
    expect(known(onDemand)).not.toContain('ratings');
    // A service etcd does not have stays unknown (refused under REGISTRY_ONLY), without a read per call.
    await expect(onDemand.fetch('http://details/d')).rejects.toMatchObject({ code: 'WEFT_ERR_REGISTRY_ONLY' });
    await expect(onDemand.fetch('http://details/d')).rejects.toMatchObject({ code: 'WEFT_ERR_REGISTRY_ONLY' });
    // The service called is watched: a second replica is seen.
    const second = await registeredService('reviews', prefix);
    await until(() => endpointsOf(onDemand, 'reviews').length === 2, 8_000);

    // Under ALLOW_ANY too, fetch and axios send a call to a service not followed yet through the mesh, which asks etcd.
    const allowAny = await mesh({
      service: 'productpage',
      discovery: { etcd: { hosts: [etcd.url], prefix, services: 'called' } },
      logger: false,
    });
    expect(await (await allowAny.fetch('http://ratings/r')).json()).toEqual({ served: 'ratings' });
    expect((await allowAny.axios('reviews').get('/r')).data).toEqual({ served: 'reviews' });
    expect(known(allowAny).sort()).toEqual(['ratings', 'reviews']);

    // A route's destination is no call's authority: the hosts the policy routes to are followed from the start.
    const routed = await mesh({
      service: 'productpage',
      discovery: { etcd: { hosts: [etcd.url], prefix, services: 'called' } },
      policy: [
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: { name: 'reviews-to-ratings' },
          spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'ratings' } }] }] },
        },
      ],
      logger: false,
    });
    expect(known(routed)).toEqual(expect.arrayContaining(['reviews', 'ratings']));
    expect(await (await routed.fetch('http://reviews/r')).json()).toEqual({ served: 'ratings' });

    const named = await mesh({
      service: 'productpage',
      discovery: { etcd: { hosts: [etcd.url], prefix, services: ['ratings'] } },
      logger: false,
    });
    expect(endpointsOf(named, 'ratings')).toEqual([ratings.server.address]);
    expect(known(named)).not.toContain('reviews');
    await Promise.all([reviews.m.close(), ratings.m.close(), second.m.close()]);
    await until(() => endpointsOf(onDemand, 'reviews').length === 0, 8_000);
  }, 30_000);

  it('after a partition during which etcd compacted the watched revisions, reads everything again and watches from there', async () => {
    const prefix = '/weft-g/';
    const key = (i: number) => `${prefix}details.default.svc.cluster.local/i${i}`;
    const value = (port: number) => JSON.stringify({ address: `127.0.0.1:${port}` });
    const writer = new Etcd3({ hosts: etcd.url });
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(etcd.url).port) });
    const troubles: string[] = [];
    try {
      await writer.put(key(1)).value(value(20001));
      const caller = await mesh({
        service: 'productpage',
        discovery: { etcd: { hosts: [proxy.url], prefix } },
        logger: { warn: (_f: object, m: string) => troubles.push(m), info: () => {}, debug: () => {} },
      });
      expect(endpointsOf(caller, 'details')).toEqual(['127.0.0.1:20001']);

      proxy.cut();
      await until(() => caller.registry.sources().some((s) => s.stale !== undefined), 8_000);
      // Meanwhile: a second endpoint registers, another key churns, and etcd compacts its history.
      await writer.put(key(2)).value(value(20002));
      for (let i = 0; i < 20; i++) await writer.put(`${prefix}churn/x`).value(String(i));
      const { header } = await writer.put(`${prefix}churn/x`).value('last').exec();
      await writer.kv.compact({ revision: header.revision, physical: true });
      expect(endpointsOf(caller, 'details')).toEqual(['127.0.0.1:20001']);

      proxy.restore();
      await until(() => endpointsOf(caller, 'details').length === 2, 15_000);
      // Seen through the watch that replaced the cancelled one: a later change arrives too.
      await writer.delete().key(key(1));
      await until(() => endpointsOf(caller, 'details').join() === '127.0.0.1:20002', 8_000);
      expect(troubles.join('\n')).toMatch(/compact/i);
      expect(caller.registry.sources().find((s) => s.name.startsWith('etcd'))?.stale).toBeUndefined();
    } finally {
      writer.close();
      await proxy.close();
    }
  }, 40_000);

  it('sends no call to an endpoint registered as DRAINING or UNHEALTHY, and shows it with its health', async () => {
    const prefix = '/weft-h/';
    const a = await registeredService('reviews', prefix);
    const b = await registeredService('reviews', prefix);
    const caller = await mesh({
      service: 'productpage',
      discovery: { etcd: { hosts: [etcd.url], prefix } },
      logger: false,
    });
    await until(() => endpointsOf(caller, 'reviews').length === 2, 8_000);
    const writer = new Etcd3({ hosts: etcd.url });
    try {
      const keys = await writer.getAll().prefix(`${prefix}reviews.`).keys();
      const keyOf = async (address: string) => {
        for (const k of keys) if ((await writer.get(k).string())?.includes(address)) return k;
        throw new Error(`no key for ${address}`);
      };
      await writer
        .put(await keyOf(b.server.address))
        .value(JSON.stringify({ address: b.server.address, health: 'DRAINING' }));
      await until(() => endpointsOf(caller, 'reviews').length === 1, 8_000);
      const [beforeA, beforeB] = [a.calls(), b.calls()];
      for (let i = 0; i < 20; i++) await (await caller.fetch('http://reviews/')).arrayBuffer();
      expect([a.calls() - beforeA, b.calls() - beforeB]).toEqual([20, 0]);
      const state = caller.endpoints().find((d) => d.service.startsWith('reviews.'));
      expect(state?.endpoints.map((e) => [e.address, e.health]).sort()).toEqual(
        [
          [a.server.address, 'HEALTHY'],
          [b.server.address, 'DRAINING'],
        ].sort(),
      );
      await writer
        .put(await keyOf(a.server.address))
        .value(JSON.stringify({ address: a.server.address, health: 'unhealthy' }));
      await until(() => endpointsOf(caller, 'reviews').length === 0, 8_000);
      await expect(caller.fetch('http://reviews/')).rejects.toMatchObject({ code: 'WEFT_ERR_NO_HEALTHY_UPSTREAM' });
    } finally {
      writer.close();
      await Promise.all([a.m.close(), b.m.close()]);
    }
  }, 30_000);
});
