// Balancer micro-benchmark: ns per pick of each strategy at 10, 1,000 and 10,000 endpoints (equal and weighted weights), and the memory of a ring and a Maglev table.
// Run `npx tsc -b tsconfig.build.json` first (or `pnpm run bench:pick`): it reads the built package.
// Each measurement runs in a process of its own, so one strategy's JIT feedback cannot slow another's.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { leastRequest } from '../packages/mesh/dist/layers/balance/least-request.js';
import { maglev } from '../packages/mesh/dist/layers/balance/maglev.js';
import { random } from '../packages/mesh/dist/layers/balance/random.js';
import { ringHash } from '../packages/mesh/dist/layers/balance/ring-hash.js';
import { roundRobin } from '../packages/mesh/dist/layers/balance/round-robin.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 5;
const PICKS = quick ? 200_000 : 2_000_000;
const SIZES = [10, 1_000, 10_000];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** mulberry32, so the weights and keys are the same every run. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` endpoints on 10.x.y.z:8080; weighted: each 1 to 10, at random. */
function snapshot(n, weighted) {
  const rand = seeded(n);
  const endpoints = Array.from({ length: n }, (_, i) => {
    const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    return Object.freeze({
      address: `${host}:8080`,
      host,
      port: 8080,
      labels: {},
      locality: '',
      weight: weighted ? 1 + Math.floor(rand() * 10) : 1,
    });
  });
  return Object.freeze({ service: `svc-${n}-${weighted}`, endpoints: Object.freeze(endpoints), version: 1 });
}

const KEYS = Array.from({ length: 4096 }, (_, i) => `user-${i * 7919}`);
const key = (ctx) => ctx.hashKey;

/** ns per pick, median of ROUNDS rounds of PICKS picks; the first pick (which builds a ring or table) is outside. */
function nsPerPick(picker, snap, { hashed = false, counted = false } = {}) {
  const ctx = { hashKey: KEYS[0], triedEndpoints: undefined };
  picker(snap, ctx);
  let sink = 0;
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = process.hrtime.bigint();
    if (counted) {
      for (let i = 0; i < PICKS; i++) {
        const e = picker(snap, ctx);
        picker.started(e);
        picker.finished(e);
        sink += e.port;
      }
    } else if (hashed) {
      for (let i = 0; i < PICKS; i++) {
        ctx.hashKey = KEYS[i & 4095];
        sink += picker(snap, ctx).port;
      }
    } else {
      for (let i = 0; i < PICKS; i++) sink += picker(snap, ctx).port;
    }
    rounds.push(Number(process.hrtime.bigint() - started) / PICKS);
  }
  if (sink === 0) throw new Error('no pick');
  return median(rounds);
}

const STRATEGIES = [
  ['round robin', () => roundRobin(), {}],
  ['random', () => random(), {}],
  ['least request (P2C; pick + started + finished)', () => leastRequest(), { counted: true }],
  ['ring hash (1024 min, key per call)', () => ringHash({ key }), { hashed: true }],
  ['Maglev (65537, key per call)', () => maglev({ key }), { hashed: true }],
];

const one = process.argv.indexOf('--one');
if (one >= 0) {
  // A child: one strategy, one size, one weighting; prints ns per pick.
  const [index, n, weighted] = process.argv.slice(one + 1, one + 4).map(Number);
  const [, make, how] = STRATEGIES[index];
  console.log(nsPerPick(make(), snapshot(n, weighted === 1), how));
  process.exit(0);
}

const self = fileURLToPath(import.meta.url);
const header = `${'strategy'.padEnd(50)}${SIZES.map((n) => `${n.toLocaleString('en')} eq`.padStart(12) + `${n.toLocaleString('en')} w`.padStart(12)).join('')}`;
console.log(
  `Balancer: ns per pick, median of ${ROUNDS} × ${PICKS.toLocaleString('en')} picks (eq = equal weights, w = weights 1–10)`,
);
console.log(header);
for (const [index, [name]] of STRATEGIES.entries()) {
  const cells = [];
  for (const n of SIZES) {
    for (const weighted of [0, 1]) {
      const args = [self, '--one', String(index), String(n), String(weighted), ...(quick ? ['--quick'] : [])];
      cells.push(Number(execFileSync(process.execPath, args, { encoding: 'utf8' }).trim()));
    }
  }
  console.log(`${name.padEnd(50)}${cells.map((ns) => ns.toFixed(1).padStart(12)).join('')}`);
}

/** Build time of a ring or table, and what the build returns. */
function timed(build) {
  const started = performance.now();
  const kept = build();
  return { kept, ms: performance.now() - started };
}

// What a ring or table keeps is typed arrays only, so their sizes are exact: a ring is two
// Uint32Arrays (position, endpoint) of one entry per virtual node, a Maglev table one Uint32Array.
console.log('\nMemory kept and build time at 10,000 endpoints (one ring or table per endpoint set):');
for (const weighted of [false, true]) {
  const snap = snapshot(10_000, weighted);
  const r = timed(() => ringHash({ key }).ringSize(snap));
  const t = timed(() => maglev({ key }).table(snap));
  const what = weighted ? 'weights 1–10 ' : 'equal weights';
  console.log(
    `  ring hash, ${what}: ${r.kept.toLocaleString('en')} virtual nodes × 8 B = ${((8 * r.kept) / 1024).toFixed(0)} KiB, built in ${r.ms.toFixed(1)} ms`,
  );
  console.log(
    `  Maglev,    ${what}: ${t.kept.length.toLocaleString('en')} slots × 4 B = ${(t.kept.byteLength / 1024).toFixed(0)} KiB, built in ${t.ms.toFixed(1)} ms`,
  );
}
