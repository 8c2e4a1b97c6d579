// Policy loader benchmark: load, check and compile 1,000 VirtualServices + 1,000 DestinationRules; host lookup cost from 10 to 10,000 resources.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyStore } from '@weft/policy';
import { stringify } from 'yaml';

const NAMESPACE = 'default';
const CLUSTER_DOMAIN = 'cluster.local';

function resources(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const host = `svc-${i}`;
    out.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: host },
      spec: {
        host,
        trafficPolicy: {
          loadBalancer: { simple: 'LEAST_REQUEST' },
          outlierDetection: { consecutive5xxErrors: 5, interval: '10s' },
        },
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      },
    });
    out.push({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: host },
      spec: {
        hosts: [host],
        http: [
          {
            match: [{ headers: { 'end-user': { exact: 'jason' } }, uri: { regex: '^/api/v[0-9]+/.*' } }],
            route: [{ destination: { host, subset: 'v2' } }],
          },
          {
            route: [
              { destination: { host, subset: 'v1' }, weight: 90 },
              { destination: { host, subset: 'v2' }, weight: 10 },
            ],
            timeout: '2s',
            retries: { attempts: 3, perTryTimeout: '500ms', retryOn: 'connect-failure,refused-stream,5xx' },
          },
        ],
      },
    });
  }
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function loadFromFiles(n, rounds) {
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-policy-'));
  try {
    // 10 files of n/10 pairs each, as a team's policy directory might be.
    const all = resources(n);
    const per = Math.ceil(all.length / 10);
    for (let f = 0; f < 10; f++) {
      const docs = all.slice(f * per, (f + 1) * per);
      await writeFile(join(dir, `policy-${f}.yaml`), docs.map((d) => stringify(d)).join('---\n'));
    }
    const times = [];
    for (let r = 0; r < rounds; r++) {
      const store = new PolicyStore({ namespace: NAMESPACE, clusterDomain: CLUSTER_DOMAIN, watch: false });
      const started = performance.now();
      const snapshot = await store.update(dir);
      times.push(performance.now() - started);
      if (snapshot.resources.length !== 2 * n) throw new Error(`loaded ${snapshot.resources.length} resources`);
    }
    return median(times);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function loadFromObjects(n, rounds) {
  const input = resources(n);
  const times = [];
  for (let r = 0; r < rounds; r++) {
    const store = new PolicyStore({ namespace: NAMESPACE, clusterDomain: CLUSTER_DOMAIN, watch: false });
    const started = performance.now();
    await store.update(input);
    times.push(performance.now() - started);
  }
  return median(times);
}

async function lookupCost(n) {
  const store = new PolicyStore({ namespace: NAMESPACE, clusterDomain: CLUSTER_DOMAIN, watch: false });
  const snapshot = await store.update(resources(n));
  const hosts = Array.from({ length: 1024 }, (_, i) => `svc-${(i * 7919) % n}.${NAMESPACE}.svc.${CLUSTER_DOMAIN}`);
  const ops = 2_000_000;
  let found = 0;
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) if (snapshot.forHost(hosts[i & 1023]) !== undefined) found++;
    rounds.push(Number(process.hrtime.bigint() - started) / ops);
  }
  if (found !== ops * 5) throw new Error('a lookup missed');
  return median(rounds);
}

const quick = process.argv.includes('--quick');
const n = 1000;
const rounds = quick ? 1 : 5;
console.log(`Policy loader: ${n} VirtualServices + ${n} DestinationRules, median of ${rounds} loads`);
console.log(`  from 10 YAML files (read, parse, check, compile): ${(await loadFromFiles(n, rounds)).toFixed(0)} ms`);
console.log(`  from objects in code (check, compile):            ${(await loadFromObjects(n, rounds)).toFixed(0)} ms`);
console.log('Host lookup, snapshot.forHost(), ns per lookup (median of 5 × 2,000,000):');
for (const size of [10, 100, 1000, 10_000]) {
  console.log(`  ${String(size * 2).padStart(6)} resources: ${(await lookupCost(size)).toFixed(1)} ns`);
}
