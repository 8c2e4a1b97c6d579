// Discovery through a real etcd: registration with leases, watches, a process killed, etcd itself stopped and restarted.
import { spawn } from 'node:child_process';
import { createMesh, type Mesh } from '@weft/mesh';
import { Etcd3 } from 'etcd3';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdServer, startEtcd } from './support/etcd.js';
import { mesh } from './support/lifecycle.js';
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
  app.get(/.*/, (_req, res) => {
    res.json({ served: name });
  });
  const server = await m.listen(app);
  return { m, server };
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

    await etcd.stop();
    // Calls keep going to the endpoint the mesh knew.
    let ok = 0;
    for (let i = 0; i < 20; i++) {
      const res = await caller.fetch('http://details/d');
      if (res.status === 200) ok++;
      await res.arrayBuffer();
    }
    expect(ok).toBe(20);
    expect(endpointsOf(caller, 'details')).toEqual([details.server.address]);
    // The source shows stale, on the admin endpoint's data and as a metric.
    await until(() => caller.registry.sources().some((s) => s.name.startsWith('etcd') && s.stale !== undefined), 8_000);
    expect(await caller.metrics()).toMatch(/weft_discovery_source_stale_seconds\{source="etcd"\} [0-9.]*[1-9]/);

    await etcd.start();
    // A second instance registers after the restart; the watching mesh sees it.
    const second = await registeredService('details', prefix, 30);
    await until(() => endpointsOf(caller, 'details').length === 2, 15_000);
    expect(endpointsOf(caller, 'details').sort()).toEqual([details.server.address, second.server.address].sort());
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
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const worker = async () => {
      while (running && ok + failures.length < 200_000) {
        try {
          const res = await caller.fetch('http://reviews/');
          await res.arrayBuffer();
          if (res.status === 200) ok++;
          else failures.push(`status ${res.status}`);
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 4 }, worker));
    try {
      for (let i = 0; i < replicas.length; i++) {
        const old = replicas[i];
        const fresh = await registeredService('reviews', prefix, 10, 300);
        await until(() => endpointsOf(caller, 'reviews').includes(fresh.server.address), 8_000);
        await old?.m.close();
        replicas[i] = fresh;
      }
    } finally {
      running = false;
      await load;
    }
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(100);
    expect(endpointsOf(caller, 'reviews').sort()).toEqual(replicas.map((r) => r.server.address).sort());
    await Promise.all(replicas.map((r) => r.m.close()));
  }, 40_000);
});
