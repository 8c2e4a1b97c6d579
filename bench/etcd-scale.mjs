// etcd at scale (issue 8): 1,000 services × 10 endpoints in a real etcd; a mesh in another process syncs them all, then sees each write.
// Reports: initial sync time, the registry view's memory, p50/p99 from a write to its visibility in the other process.
// SERVICES, PER_SERVICE and FOLLOW (services followed by name; 0, the default, for all) come from the environment.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMesh } from '@weft/mesh';
import { Etcd3 } from 'etcd3';

const SERVICES = Number(process.env.SERVICES ?? 1000);
const PER_SERVICE = Number(process.env.PER_SERVICE ?? 10);
const UPDATES = 200;
// FOLLOW=n: the mesh follows only n services by name (a watch each), as a workload that calls n of them would.
const FOLLOW = Number(process.env.FOLLOW ?? 0);
const followed = Array.from({ length: FOLLOW }, (_, k) => (k * 7) % SERVICES);
const PREFIX = '/weft/services/';
const service = (i) => `svc-${i}.default.svc.cluster.local`;
const value = (i, j, ts) =>
  JSON.stringify({
    address: `10.${(i >> 8) & 255}.${i & 255}.${j + 1}:8080`,
    labels: { version: 'v1', ts: String(ts) },
  });

if (process.argv[2] === 'mesh') {
  // The other process: a mesh watching every service.
  const hosts = [process.argv[3]];
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const services = JSON.parse(process.argv[4]);
  const mesh = await createMesh({
    service: 'bench',
    discovery: { etcd: { hosts, ...(services.length > 0 ? { services } : {}) } },
    logger: false,
    tracing: false,
  });
  const syncMs = performance.now() - started;
  global.gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  const known = mesh.registry.snapshots().filter((s) => s.endpoints.length > 0).length;
  mesh.registry.onChange((snapshot) => {
    const now = Date.now();
    let newest = 0;
    for (const e of snapshot.endpoints) newest = Math.max(newest, Number(e.labels.ts ?? 0));
    process.send({ type: 'seen', ms: now - newest });
  });
  process.send({ type: 'synced', syncMs, services: known, heapMiB: (heapAfter - heapBefore) / 2 ** 20 });
  process.on('message', async (m) => {
    if (m.type === 'stop') {
      await mesh.close();
      process.exit(0);
    }
  });
} else {
  const freePort = async () => {
    const s = createServer();
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const { port } = s.address();
    await new Promise((r) => s.close(r));
    return port;
  };
  const dir = mkdtempSync(join(tmpdir(), 'weft-etcd-bench-'));
  const [cp, pp] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${cp}`;
  const etcd = spawn(
    'etcd',
    [
      '--name=bench',
      `--data-dir=${join(dir, 'data')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=http://127.0.0.1:${pp}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${pp}`,
      `--initial-cluster=bench=http://127.0.0.1:${pp}`,
      '--log-level=error',
      '--quota-backend-bytes=4294967296',
    ],
    { stdio: 'ignore' },
  );
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${url}/health`)).ok) break;
      } catch {}
      if (i > 200) throw new Error('etcd did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    const writer = new Etcd3({ hosts: [url] });
    const t0 = performance.now();
    const keys = [];
    for (let i = 0; i < SERVICES; i++) for (let j = 0; j < PER_SERVICE; j++) keys.push([i, j]);
    for (let k = 0; k < keys.length; k += 200) {
      await Promise.all(
        keys.slice(k, k + 200).map(([i, j]) => writer.put(`${PREFIX}${service(i)}/inst-${j}`).value(value(i, j, 0))),
      );
    }
    const writeMs = performance.now() - t0;
    const child = fork(fileURLToPath(import.meta.url), ['mesh', url, JSON.stringify(followed.map(service))], {
      execArgv: ['--expose-gc'],
    });
    const synced = await new Promise((resolve) => child.on('message', (m) => m.type === 'synced' && resolve(m)));
    const seen = [];
    child.on('message', (m) => m.type === 'seen' && seen.push(m.ms));
    for (let u = 0; u < UPDATES; u++) {
      const i = FOLLOW > 0 ? (followed[u % FOLLOW] ?? 0) : (u * 7) % SERVICES;
      await writer.put(`${PREFIX}${service(i)}/inst-0`).value(value(i, 0, Date.now()));
      await new Promise((r) => setTimeout(r, 10));
    }
    const end = Date.now() + 5_000;
    while (seen.length < UPDATES && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    seen.sort((a, b) => a - b);
    const q = (p) => seen[Math.min(seen.length - 1, Math.ceil(p * seen.length) - 1)];
    child.send({ type: 'stop' });
    writer.close();
    console.log(
      `${SERVICES} services × ${PER_SERVICE} endpoints = ${keys.length} keys (written in ${(writeMs / 1000).toFixed(1)} s)`,
    );
    console.log(
      `initial sync (createMesh with the etcd source${FOLLOW > 0 ? `, ${FOLLOW} services followed by name` : ''}): ${synced.syncMs.toFixed(0)} ms, ${synced.services} services with endpoints`,
    );
    console.log(`registry view and watch state: ${synced.heapMiB.toFixed(1)} MiB of heap`);
    console.log(
      `write → visible in the other process: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${seen.at(-1)} ms (${seen.length}/${UPDATES} seen)`,
    );
  } finally {
    etcd.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    rmSync(dir, { recursive: true, force: true });
  }
}
