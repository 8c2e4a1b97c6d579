// The tracing layers alone, in process: ns per outbound call through trace-call and trace-attempt over a
// handler that answers from memory, under startTracing at 1 % (or --ratio), against the same handler bare.
// Run `npx tsc -b tsconfig.build.json` first. Measures weft's own work per call; the cost of the extra
// headers in undici and on the socket is not in it (bench/ab.mjs measures the whole client).
//   node bench/tracing-layers.mjs [--ratio 0.01] [--calls 1000000] [--propagators tracecontext,baggage,b3]
import { parseArgs } from 'node:util';
import { DISCARD } from './tracing.mjs';

const { values } = parseArgs({
  options: { ratio: { type: 'string' }, calls: { type: 'string' }, propagators: { type: 'string' } },
});
const ratio = Number(values.ratio ?? 0.01);
const calls = Number(values.calls ?? 1_000_000);
const DIST = new URL('../packages/mesh/dist/', import.meta.url);
const { startTracing } = await import(new URL('telemetry/tracing/setup.js', DIST).href);
const { tracing, resolveTracing } = await import(new URL('telemetry/tracing/index.js', DIST).href);
const { ClientCallContext } = await import(new URL('client/context.js', DIST).href);
const { compose } = await import('@weft/core');

await startTracing({ service: 'bench', samplingRatio: ratio, exporter: DISCARD });
const options = resolveTracing(values.propagators ? { propagators: values.propagators.split(',') } : true);
const t = tracing(options);
const response = { status: 200, headers: {}, body: null };
const answer = Promise.resolve(response);
const terminal = (_request, _ctx) => answer;
const traced = compose([t.call, t.attempt], terminal);

async function run(handler, n) {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const request = { method: 'GET', scheme: 'http', authority: 'bench', path: '/json', headers: {}, body: null };
    const ctx = new ClientCallContext(Number.POSITIVE_INFINITY);
    await handler(request, ctx);
  }
  const c = process.cpuUsage(start);
  return ((c.user + c.system) * 1000) / n;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const bare = [];
const withTracing = [];
await run(traced, calls / 5);
await run(terminal, calls / 5);
for (let i = 0; i < 7; i++) {
  bare.push(await run(terminal, calls / 5));
  withTracing.push(await run(traced, calls / 5));
}
console.log(
  `bare ${median(bare).toFixed(0)} ns, traced ${median(withTracing).toFixed(0)} ns, tracing ${(median(withTracing) - median(bare)).toFixed(0)} ns a call (ratio ${ratio})`,
);
