// Instructions a client executes per call, counted by valgrind: the same figure run after run, where CPU time on
// this VM moves by ±20 % between processes. The ratio of two variants' counts is the throughput ratio a client
// that is limited by its own core would show, without the noise (memory stalls aside).
//
//   node bench/instructions.mjs [--calls 40000] [--warmup 5000] [--repeats 1] [--functions] [--js] [--window [--cache]] V1 V2 …
//
// Variants: `undici` (a bare Pool), `none` (mesh.request() with tracing and metrics off), `none-ids` (the same with
// x-request-id: telemetry-1-ids's plain side), `metrics` (metrics only), `tracing` (tracing on, no SDK),
// `telemetry-1` and `telemetry-100` (metrics, and tracing under sdk-node's startTracing at 1 % / 100 %: the weft
// side of the `telemetry-1` pair). This process serves GET /json (bare node:http); each variant runs twice in
// `valgrind --tool=cachegrind` (V8 single-threaded, so that compiler and marker threads count the same every time),
// `warmup` calls and `warmup + calls` calls, and the difference divided by `calls` is its count per call: start-up
// and warm-up cancel out. `--functions` adds the native functions (V8 builtins and runtime, GC, libc) whose counts
// moved most against the first variant; JavaScript itself is one line, `(JIT code)`. Not quite deterministic: how
// many answers each turn of the event loop reads, and so the garbage collector's timing, still moves a run by a few
// per cent (two runs of `none`: 92,500 and 96,700 a call); `--repeats N` reports each variant's median run. Needs
// valgrind (`apt-get install -y valgrind`) and `npx tsc -b tsconfig.build.json` first. About 3 minutes a variant.
//
// `--js` counts under callgrind instead (about twice as slow) and names JavaScript by function, from V8's perf
// map, with totals by part: weft's JavaScript, undici's, Node's, OpenTelemetry's, compiled regular expressions,
// V8 builtins, garbage collection, the compilers and the rest of the native code. The compilers' line is the
// noisiest (a recompile falling inside the counted calls or not); the total without it is printed too.
// `--save FILE` writes every variant's count a call by function (JSON), to compare runs of two builds.
//
// `--window` counts a client variant in one process instead of two: `warmup` calls, a full collection, then
// callgrind's counters are zeroed and `calls` calls counted up to a dump (`callgrind_control -z` and `-d`).
// Nothing is subtracted, so a collection or a recompile that falls in one run and not the other no longer
// moves the count by thousands a call (the two-run counts of `none` ranged from 64,000 to 121,000 on
// 2026-12-07); what the window holds is what those calls cost, collections included. Under callgrind, so
// about as slow as `--js`; with `--js` it names the functions too. `--cache` (with `--window`) adds callgrind's
// cache simulation, about twice as slow again: every event a call (instructions, data reads and writes, and
// their misses in the first-level and last-level caches) and the last-level misses by function.
//
// Server variants count the server instead, an Express 5 app answering GET /json, while this process drives it
// with an undici Pool (32 connections): `express` (bare), `express-noop` (a pass-through middleware mounted first,
// what any middleware costs), `weft-express-off` (`app.use(mesh.express())`, telemetry off) and `weft-express`
// (the default: metrics, tracing with no SDK). Its `calls` are requests; `--calls 10000 --warmup 2000` takes
// about a minute a variant, but V8 is still optimizing a server after 2,000 requests (a few dozen compiles
// more, weft's server more than bare Express): warm up longer, or read the total without the compilers.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ANSWER, listenJson } from './json-server.mjs';
import { bareClient, callsInFlight, meshClient } from './tracing.mjs';

/** The repository's root, cut from the names of JIT code. */
const REPO = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

const VARIANTS = {
  undici: {},
  none: { tracing: false, metrics: false },
  // Telemetry off as a user turns it off (tracing and metrics), x-request-id kept as Envoy keeps it:
  // telemetry-1-ids's plain client.
  'none-ids': { tracing: false, metrics: false, requestId: true },
  metrics: { tracing: false },
  tracing: { tracing: true, metrics: false },
  'telemetry-1': { tracing: true, samplingRatio: 0.01 },
  'telemetry-100': { tracing: true, samplingRatio: 1 },
};

/** Server variants: what the Express app mounts before its route. */
const SERVER_VARIANTS = {
  express: {},
  'express-noop': { noop: true },
  'weft-express-off': { mesh: { tracing: false, requestId: false, metrics: false } },
  'weft-express': { mesh: {} },
};

/** The counted server: answers `requests` requests of GET /json, then closes and exits. Prints its port. */
async function serve(variant, requests) {
  const { default: express } = await import('express');
  const { mesh: options, noop } = SERVER_VARIANTS[variant];
  let mesh;
  if (options !== undefined) {
    const { createMesh } = await import('@weft/mesh');
    mesh = await createMesh({ service: 'bench', security: false, logger: false, ...options });
  }
  const app = express();
  if (mesh !== undefined) app.use(mesh.express());
  if (noop) app.use((_req, _res, next) => next());
  const server = createServer(app);
  const payload = JSON.parse(ANSWER);
  let served = 0;
  app.get('/json', (_req, res) => {
    res.json(payload);
    if (++served === requests) {
      server.closeAllConnections();
      server.close();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.stdout.write(`${server.address().port}\n`);
  await once(server, 'close');
  await mesh?.close();
}

/** Drives the counted server at `port` with 32 connections until it closes them. */
async function drive(port) {
  const { send, close } = await bareClient(port, 32);
  const worker = async () => {
    try {
      for (;;) await send();
    } catch {
      // The server closed its connections: it has answered its requests.
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await close();
}

/** The client of a variant, calling this process's server at `port` with 32 calls in flight. */
const clientOf = (variant, port) =>
  variant === 'undici' ? bareClient(port, 32) : meshClient({ port, concurrency: 32, ...VARIANTS[variant] });

async function child(variant, port, calls) {
  const { send, close } = await clientOf(variant, port);
  await callsInFlight(send, calls, 32);
  await close();
}

/**
 * The counted client of `--window`: `warmup` calls, a full collection, then `calls` calls between the
 * two marks it prints (`warm`, `done`), each answered on stdin once the parent has zeroed or dumped
 * callgrind's counters. While it waits it keeps a timer running: callgrind takes commands only while
 * the process runs code.
 */
async function windowChild(variant, port, warmup, calls) {
  const { send, close } = await clientOf(variant, port);
  const mark = async (line) => {
    const idle = setInterval(() => {}, 5);
    process.stdout.write(`${line}\n`);
    await once(process.stdin, 'data');
    clearInterval(idle);
  };
  await callsInFlight(send, warmup, 32);
  globalThis.gc?.();
  await mark('warm');
  await callsInFlight(send, calls, 32);
  await mark('done');
  await close();
}

/**
 * Runs `calls` calls of `variant` under cachegrind (for a server variant, `calls` requests, with this process
 * driving it); resolves with `counts`, its instructions by function. With `js`, under callgrind instead, counting
 * each instruction's address, and the JIT code's addresses named by the perf map V8 writes (`--perf-basic-prof`,
 * with code never moved: `--no-compact-code-space`): JavaScript by function, not one line. With `cache` (a
 * window only), callgrind simulates the caches too: `misses` (last-level, by function) and `events` (totals).
 */
async function counted(variant, port, calls, dir, js, window, cache = false) {
  const out = join(dir, `${variant}.${calls}.${window === undefined ? 'run' : 'window'}.out`);
  const tool =
    js || window !== undefined
      ? ['--tool=callgrind', '--dump-instr=yes', `--callgrind-out-file=${out}`, ...(cache ? ['--cache-sim=yes'] : [])]
      : ['--tool=cachegrind', '--cache-sim=no', `--cachegrind-out-file=${out}`];
  // --perf-basic-prof also turns on V8's code log: into the temporary directory with the rest.
  const node = [
    ...(js
      ? ['--perf-basic-prof', '--no-compact-code-space', '--no-logfile-per-isolate', `--logfile=${out}.v8.log`]
      : []),
    ...(window === undefined ? [] : ['--expose-gc']),
  ];
  const valgrind = [
    ...tool,
    '--smc-check=all-non-file',
    process.execPath,
    '--single-threaded',
    ...node,
    fileURLToPath(import.meta.url),
  ];
  const pid =
    window !== undefined
      ? await countedWindow(
          [...valgrind, '--child-window', variant, String(port), String(window), String(calls)],
          variant,
        )
      : variant in SERVER_VARIANTS
        ? await countedServer([...valgrind, '--serve', variant, String(calls)], variant)
        : await countedClient([...valgrind, '--child', variant, String(port), String(calls)], variant, calls);
  // A window's counts are in callgrind's first dump (`-d`), the file's name with `.1` added.
  const file = window === undefined ? out : `${out}.1`;
  if (!js && window === undefined) return { counts: byFunction(out) };
  const map = `/tmp/perf-${pid}.map`;
  try {
    const names = js ? perfMap(map) : [];
    const counts = byAddress(file, names, ['Ir']);
    if (!cache) return { counts };
    return { counts, misses: byAddress(file, names, LAST_LEVEL_MISSES), events: eventTotals(file) };
  } finally {
    rmSync(map, { force: true });
  }
}

/** callgrind's cache simulation: misses in the last-level cache (instruction reads, data reads, data writes). */
const LAST_LEVEL_MISSES = ['ILmr', 'DLmr', 'DLmw'];

/** Every event's total in a callgrind output file (its `events:` and `summary:` lines), by name. */
function eventTotals(file) {
  const text = readFileSync(file, 'utf8');
  const names = /^events: (.*)$/m.exec(text)?.[1].trim().split(' ') ?? [];
  const values = (/^(?:summary|totals): (.*)$/m.exec(text)?.[1] ?? '').trim().split(' ').map(Number);
  return new Map(names.map((name, i) => [name, values[i] ?? 0]));
}

/** Runs a counted client (valgrind `args`) to its end; resolves with its process id. */
function countedClient(args, variant, calls) {
  return new Promise((resolve, reject) => {
    const child = execFile('valgrind', args, { maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`valgrind ${variant} ${calls}: ${error.message}\n${stderr.slice(-2000)}`));
      else resolve(child.pid);
    });
  });
}

/**
 * Runs a `--window` client (valgrind `args`): zeroes callgrind's counters when it is warm and dumps
 * them when its counted calls are done (`callgrind_control`); resolves with its process id.
 */
async function countedWindow(args, variant) {
  const { child, exited, failure } = spawnValgrind(args, 'pipe');
  const control = (flag) =>
    new Promise((resolve, reject) => {
      execFile('callgrind_control', [flag, String(child.pid)], { timeout: 120_000 }, (error) =>
        error ? reject(new Error(`callgrind_control ${flag} ${variant}: ${error.message}`)) : resolve(),
      );
    });
  for await (const line of createInterface({ input: child.stdout })) {
    if (line === 'warm') await control('-z');
    else if (line === 'done') await control('-d');
    else continue;
    child.stdin.write('next\n');
  }
  const code = await exited;
  if (code !== 0) throw failure(`valgrind ${variant} (window): exit ${code}`);
  return child.pid;
}

/** Starts valgrind with `args`, its stdout piped; its exit code, and an error carrying the end of its stderr. */
function spawnValgrind(args, stdin) {
  const child = spawn('valgrind', args, { stdio: [stdin, 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const exited = once(child, 'exit').then(([code]) => code);
  return { child, exited, failure: (message) => new Error(`${message}\n${stderr}`) };
}

/** Runs a counted server (valgrind `args`), drives it until it has answered its requests; resolves with its process id. */
async function countedServer(args, variant) {
  const { child: server, exited, failure } = spawnValgrind(args, 'ignore');
  // The server prints its port once it listens; it exits on its own once it has answered.
  const first = await Promise.race([once(server.stdout, 'data').then(([chunk]) => String(chunk)), exited]);
  if (typeof first !== 'string') throw failure(`valgrind ${variant}: exited ${first} before listening`);
  await drive(Number(first.trim()));
  const code = await exited;
  if (code !== 0) throw failure(`valgrind ${variant}: exit ${code}`);
  return server.pid;
}

/** Instructions by function in a cachegrind output file; JIT code (no symbol) as one entry. */
function byFunction(file) {
  const counts = new Map();
  let fn = '';
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('fn=')) fn = line.slice(3) === '???' ? '(JIT code)' : line.slice(3);
    else if (line.charCodeAt(0) >= 48 && line.charCodeAt(0) <= 57) {
      const count = Number(line.slice(line.indexOf(' ') + 1));
      counts.set(fn, (counts.get(fn) ?? 0) + count);
    }
  }
  return counts;
}

/** V8's perf map: each JIT code object's start, end and name (`JS *name file:line:col`, its tier mark kept), by start. */
function perfMap(file) {
  const entries = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (b === -1) continue;
    const start = Number.parseInt(line.slice(0, a), 16);
    const name = line
      .slice(b + 1)
      // The tier stays in the name (V8's marks): `*` optimized by TurboFan, `^` baseline (Sparkplug),
      // `~` interpreted; a hot function that is not `*` runs every property access through an IC stub.
      .replace(/^(?:JS|LazyCompile|Function):([*~^+]?)/, (_, tier) => `JS ${tier}`)
      .replace(`file://${REPO}/`, '')
      .replace(`${REPO}/`, '')
      .replace(/node_modules\/\.pnpm\/[^/]+\/node_modules\//, '');
    entries.push({ start, end: start + Number.parseInt(line.slice(a + 1, b), 16), name });
  }
  // Stable: of two objects at one address (the second made after the first was freed), the later one wins below.
  return entries.sort((x, y) => x.start - y.start);
}

/** The name of the JIT code at `address`, if any. */
function jitName(map, address) {
  let lo = 0;
  let hi = map.length - 1;
  let found;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map[mid].start <= address) {
      found = map[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found !== undefined && address < found.end ? found.name : undefined;
}

/**
 * Self counts of `events` (summed) by function in a callgrind output file written with `--dump-instr=yes`
 * (positions `instr line`, each absolute or relative to the last, then the counts in the order of its
 * `events:` line, trailing zeros left out); an address in JIT code takes its perf map name.
 * The line after `calls=` is the callee's inclusive cost, not this function's own: skipped.
 */
function byAddress(file, map, events) {
  const counts = new Map();
  const names = new Map();
  let columns = [2];
  let fn = '';
  let address = 0;
  let inclusive = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('events: ')) {
      const all = line.slice(8).trim().split(' ');
      for (const event of events) if (!all.includes(event)) throw new Error(`${file}: no event ${event} in ${all}`);
      columns = events.map((event) => 2 + all.indexOf(event));
      continue;
    }
    if (line.startsWith('fn=') || line.startsWith('cfn=')) {
      const m = /^c?fn=\((\d+)\)(?: (.*))?$/.exec(line);
      const name = m === null ? line.slice(line.indexOf('=') + 1) : (m[2] ?? names.get(m[1]));
      if (m !== null && m[2] !== undefined) names.set(m[1], m[2]);
      if (line[0] === 'f') fn = name;
      continue;
    }
    if (line.startsWith('calls=')) {
      inclusive = true;
      continue;
    }
    const c = line[0];
    if (c !== '0' && c !== '+' && c !== '-' && c !== '*') continue;
    const fields = line.split(' ');
    const position = fields[0];
    if (fields.length < 3) continue;
    let count = 0;
    for (const column of columns) count += Number(fields[column] ?? 0);
    if (c === '0') address = Number.parseInt(position, 16);
    else if (c === '+') address += Number.parseInt(position.slice(1), 16);
    else if (c === '-') address -= Number.parseInt(position.slice(1), 16);
    if (inclusive) {
      inclusive = false;
      continue;
    }
    const name = jitName(map, address) ?? fn;
    counts.set(name, (counts.get(name) ?? 0) + count);
  }
  return counts;
}

/** Where a function's instructions belong, for the `--js` totals. */
const COMPILERS = 'V8 compilers';

function part(fn) {
  if (fn.startsWith('JS ')) {
    if (fn.includes('packages/')) return 'weft (JavaScript)';
    if (fn.includes('undici')) return 'undici (JavaScript)';
    if (fn.includes('@opentelemetry')) return 'OpenTelemetry (JavaScript)';
    if (fn.includes('node:')) return "Node's own JavaScript";
    return 'other JavaScript';
  }
  if (fn.startsWith('RegExp:')) return 'regular expressions (compiled)';
  if (fn.startsWith('Builtin:') || fn.startsWith('Builtins_') || fn.startsWith('BytecodeHandler:'))
    return 'V8 builtins';
  if (/Scaveng|Mark|Sweep|Evacuat|Heap|Marking|Compactor|LiveObject|Slot|Remembered|GCTracer|Minor|Major/.test(fn))
    return 'garbage collection';
  if (/compiler::|maglev|Maglev|interpreter::|Parser|Scanner|Ast|Bytecode|Compile|Deoptimiz|TurboFan/.test(fn))
    return COMPILERS;
  return 'other native (V8 runtime, Node, libc)';
}

/** Per-call counts by function: the longer run's minus the shorter run's, over the calls between them. */
function perCall(longer, shorter, calls) {
  const out = new Map();
  for (const [fn, n] of longer) out.set(fn, (n - (shorter.get(fn) ?? 0)) / calls);
  for (const [fn, n] of shorter) if (!longer.has(fn)) out.set(fn, -n / calls);
  return out;
}

const sum = (m) => [...m.values()].reduce((a, b) => a + b, 0);

/** The `count` keys whose values moved most from `before` to `after`, with the change, largest first. */
function movers(after, before, count) {
  const keys = new Set([...after.keys(), ...before.keys()]);
  return [...keys]
    .map((key) => [key, (after.get(key) ?? 0) - (before.get(key) ?? 0)])
    .sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]))
    .slice(0, count);
}
/** `n` rounded, with its sign (a minus sign, not a hyphen) and thousands separators. */
const signed = (n) => `${n >= 0 ? '+' : '−'}${Math.round(Math.abs(n)).toLocaleString('en')}`;

/** parseArgs, with a wrong flag reported by its message and the usage line rather than a stack trace. */
function parseArgsOr(usage, config) {
  try {
    return parseArgs(config);
  } catch (error) {
    console.error(`${error.message.split('.')[0]}.\n${usage}`);
    process.exit(2);
  }
}

async function main() {
  const usage =
    'usage: node bench/instructions.mjs [--calls N] [--warmup N] [--repeats N] [--functions] [--js] [--window [--cache]] ' +
    `[--save FILE] V1 V2 … (${Object.keys(VARIANTS)}; servers: ${Object.keys(SERVER_VARIANTS)})`;
  const { values, positionals } = parseArgsOr(usage, {
    allowPositionals: true,
    options: {
      calls: { type: 'string' },
      warmup: { type: 'string' },
      repeats: { type: 'string' },
      functions: { type: 'boolean' },
      js: { type: 'boolean' },
      save: { type: 'string' },
      window: { type: 'boolean' },
      cache: { type: 'boolean' },
    },
  });
  const known = [...Object.keys(VARIANTS), ...Object.keys(SERVER_VARIANTS)];
  const wrong = [
    positionals.length === 0 ? 'no variant given' : undefined,
    ...positionals.filter((v) => !known.includes(v)).map((v) => `unknown variant ${v}`),
    values.cache && !values.window ? '--cache counts in one window: add --window' : undefined,
  ].filter((line) => line !== undefined);
  if (wrong.length > 0) {
    console.error(`${wrong.join('\n')}\n${usage}`);
    process.exit(2);
  }
  const calls = Number(values.calls ?? 40_000);
  const warmup = Number(values.warmup ?? 5_000);
  const repeats = Number(values.repeats ?? 1);
  // A client under valgrind can leave a connection idle past Node's 5 s: the server closing it
  // then races the client's next request on it (UND_ERR_SOCKET, "other side closed").
  const server = await listenJson({ keepAliveTimeout: 600_000 });
  const dir = mkdtempSync(join(tmpdir(), 'weft-instructions-'));
  try {
    const results = [];
    for (const variant of positionals) {
      const runs = [];
      for (let i = 0; i < repeats; i++) {
        const perCallOf = (m) => new Map([...m].map(([key, n]) => [key, n / calls]));
        let run;
        if (values.window && !(variant in SERVER_VARIANTS)) {
          const { counts, misses, events } = await counted(
            variant,
            server.port,
            calls,
            dir,
            values.js,
            warmup,
            values.cache,
          );
          run = { functions: perCallOf(counts) };
          if (misses !== undefined) run = { ...run, misses: perCallOf(misses), events: perCallOf(events) };
        } else {
          const shorter = await counted(variant, server.port, warmup, dir, values.js);
          const longer = await counted(variant, server.port, warmup + calls, dir, values.js);
          run = { functions: perCall(longer.counts, shorter.counts, calls) };
        }
        const total = sum(run.functions);
        runs.push({ variant, total, ...run });
        console.error(`${variant}: ${Math.round(total).toLocaleString('en')} instructions a call`);
      }
      // The median run (by its total), whole: its functions add up to its total.
      runs.sort((x, y) => x.total - y.total);
      results.push(runs[Math.floor((runs.length - 1) / 2)]);
    }
    const [first] = results;
    console.log(
      `\ninstructions a call (${calls.toLocaleString('en')} calls after ${warmup.toLocaleString('en')}, 32 in flight)`,
    );
    console.log('| variant | instructions a call | vs first | first/variant |\n|---|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.variant} | ${Math.round(r.total).toLocaleString('en')} | ${signed(r.total - first.total)} | ${(first.total / r.total).toFixed(3)} |`,
      );
    }
    if (values.save !== undefined) {
      const byVariant = (key) => Object.fromEntries(results.map((r) => [r.variant, Object.fromEntries(r[key])]));
      const cache = values.cache ? { misses: byVariant('misses'), events: byVariant('events') } : {};
      const saved = { calls, warmup, js: values.js === true, variants: byVariant('functions'), ...cache };
      writeFileSync(values.save, JSON.stringify(saved));
    }
    if (values.cache) {
      // Every event callgrind counted, a call: instructions (Ir), data reads and writes (Dr, Dw), and
      // the misses of each in the first-level caches (I1mr, D1mr, D1mw) and the last-level one (ILmr, DLmr, DLmw).
      const events = [...first.events.keys()];
      console.log(`\nevents a call (callgrind's cache simulation)\n| variant | ${events.join(' | ')} |`);
      console.log(`|---|${events.map(() => '---:').join('|')}|`);
      for (const r of results) {
        const cells = events.map((e) => (r.events.get(e) ?? 0).toFixed(e.endsWith('mr') || e.endsWith('mw') ? 1 : 0));
        console.log(`| ${r.variant} | ${cells.join(' | ')} |`);
      }
      for (const r of results.slice(1)) {
        console.log(`\n${r.variant} − ${first.variant}, last-level misses a call by function:`);
        for (const [fn, d] of movers(r.misses, first.misses, 25))
          console.log(`${d.toFixed(2).padStart(7)}  ${fn.slice(0, 130)}`);
      }
    }
    if (values.js) {
      const parts = (r) => {
        const out = new Map();
        for (const [fn, n] of r.functions) out.set(part(fn), (out.get(part(fn)) ?? 0) + n);
        return out;
      };
      const firstParts = parts(first);
      console.log(`\nby part (instructions a call; the others' change against ${first.variant}):`);
      console.log(
        `| part | ${results.map((r) => r.variant).join(' | ')} |\n|---|${results.map(() => '---:').join('|')}|`,
      );
      const all = results.map(parts);
      // Every part any variant has: weft's JavaScript is absent from a bare first variant.
      const names = new Set(all.flatMap((p) => [...p.keys()]));
      const largest = (name) => Math.max(...all.map((p) => p.get(name) ?? 0));
      for (const name of [...names].sort((x, y) => largest(y) - largest(x))) {
        const cells = all.map((p, i) =>
          i === 0
            ? Math.round(p.get(name) ?? 0).toLocaleString('en')
            : signed((p.get(name) ?? 0) - (firstParts.get(name) ?? 0)),
        );
        console.log(`| ${name} | ${cells.join(' | ')} |`);
      }
      const steady = all.map((p, i) => results[i].total - (p.get(COMPILERS) ?? 0));
      const cells = steady.map((n, i) =>
        i === 0 ? Math.round(n).toLocaleString('en') : `${signed(n - steady[0])} (${(steady[0] / n).toFixed(3)})`,
      );
      console.log(`| **total without the compilers** | ${cells.join(' | ')} |`);
    }
    if (values.functions || values.js) {
      for (const r of results.slice(1)) {
        const moved = movers(r.functions, first.functions, values.js ? 40 : 25);
        console.log(`\n${r.variant} − ${first.variant}, by function (instructions a call):`);
        for (const [fn, d] of moved) console.log(`${signed(d).padStart(7)}  ${fn.slice(0, 130)}`);
      }
    }
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
  process.exit(0);
} else if (process.argv[2] === '--child-window') {
  const [variant, port, warmup, calls] = process.argv.slice(3);
  await windowChild(variant, Number(port), Number(warmup), Number(calls));
  process.exit(0);
} else if (process.argv[2] === '--serve') {
  await serve(process.argv[3], Number(process.argv[4]));
  process.exit(0);
} else {
  await main();
}
