// Measurements: a variant's server and load generator processes, run once (separate) or window by window
// alternating with the other variant's (interleaved), and what each process reports.
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from '@weft/security';
import { busyCpuSeconds, processCpuMs } from './host-load.mjs';
import { PAIRS, warmupOf } from './options.mjs';

const START_TIMEOUT_MS = 15_000; // for a server to listen or a load generator to load
const STOP_TIMEOUT_MS = 5_000; // for a process to report and exit
const DRAIN_MARGIN_MS = 15_000; // beyond warm-up and window, before a silent load generator counts as hung
const SETTLE_MS = 100; // between windows: what the variant that just ran still does (its GC, its timers) is not counted against the next
const LOADGEN_CPU = 0;
const SERVER_CPU = 1;
const PROFILES = fileURLToPath(new URL('results/profiles', import.meta.url));

// One CA for the whole run, in a directory of its own: both sides of an mTLS pair load it
// (weft's meshes as their embedded CA, the bare client and server to issue their certificates).
let caDir;
async function benchCaDir() {
  if (caDir === undefined) {
    const dir = join(mkdtempSync(join(tmpdir(), 'weft-bench-')), 'ca');
    await (await CertificateAuthority.create()).save(dir);
    caDir = dir;
  }
  return caDir;
}

/**
 * Whether processes can be pinned to one CPU each: the harness starts every load generator on the
 * first CPU and every server on the second (through `taskset`, so every thread starts there), so
 * the two variants of a pair run on the same cores. This VM's two CPUs differ in speed (the same
 * loop took 5-30 % longer on one than the other, run after run), and a process the scheduler
 * happened to keep on the slower one was slower for its whole life.
 */
let canPin;
function pinnable() {
  if (canPin === undefined) {
    try {
      execFileSync('taskset', ['-c', '0', process.execPath, '-e', ''], { stdio: 'ignore' });
      canPin = true;
    } catch (error) {
      canPin = false;
      console.error(`bench: processes not pinned to CPUs (taskset: ${error.message}); measuring unpinned`);
    }
  }
  return canPin;
}

function spawnChild(script, args, profileName, env, cpu) {
  const profiling = profileName ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`, `--cpu-prof-name=${profileName}`] : [];
  // --expose-gc: the harness has every process run a full collection once warmed up (measureInterleaved).
  const flags = ['--expose-gc', ...profiling];
  const pinned = cpu !== undefined && pinnable();
  return fork(fileURLToPath(new URL(script, import.meta.url)), args, {
    // `taskset -c N node …`: the IPC channel and the environment pass through to node.
    ...(pinned
      ? { execPath: 'taskset', execArgv: ['-c', String(cpu), process.execPath, ...flags] }
      : { execArgv: flags }),
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** A message to a child; fails (instead of an uncaught 'error' on the child) when it is gone. */
function tell(child, message) {
  return new Promise((resolve, reject) => {
    if (!child.connected) {
      reject(new Error(`${message.type}: the process is gone (exit code ${child.exitCode})`));
      return;
    }
    child.send(message, (error) => (error ? reject(error) : resolve()));
  });
}

/** The first message of `type` from `child`; fails if the child exits first or `timeoutMs` passes. */
function messageOf(child, type, timeoutMs) {
  return new Promise((resolve, reject) => {
    const done = (fn, value) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      fn(value);
    };
    const onMessage = (m) => m.type === type && done(resolve, m);
    const onExit = (code) => done(reject, new Error(`${type}: process exited (code ${code}) before reporting`));
    const timer = setTimeout(() => done(reject, new Error(`${type}: no report within ${timeoutMs} ms`)), timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Waits for `child` to exit by itself (so a CPU profile gets written), then ends it if it has not. */
async function endChild(child) {
  const running = () => child.exitCode === null && child.signalCode === null;
  if (running()) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
      child.once('exit', () => resolve(clearTimeout(timer)));
    });
  }
  if (running()) child.kill();
}

/**
 * A variant's two processes: its server, then its load generator against it. Given `shared` (the
 * other variant, already started), the side that is not under test is that variant's process: on
 * a client-side pair only a load generator is started, against the other's server; on a
 * server-side pair only a server, which the other's load generator then also drives. `ready`
 * settles once the load generator can take windows for this variant. The load generator's window
 * marks go on to the server, which answers each window's end with the CPU it used in it; the
 * machine's busy CPU is read at each mark too, and `nextWindow` holds the server's report of the
 * window that just ended.
 */
async function startVariant(pair, variant, round, options, loadgenConfig, shared = undefined) {
  const spec = PAIRS[pair];
  const both = spec.side === 'both';
  const serverKind = both ? spec[variant].server : spec.side === 'server' ? spec[variant] : spec.server;
  const clientKind = both ? spec[variant].client : spec.side === 'client' ? spec[variant] : spec.client;
  const env = both ? { ...process.env, WEFT_CA_DIR: await benchCaDir() } : process.env;
  // A pair with weft on both sides profiles both processes.
  const profile = options.cpuProf ? `${pair}-${variant}-r${round + 1}.cpuprofile` : undefined;
  const serverProfile = both && profile ? profile.replace('.cpuprofile', '-server.cpuprofile') : profile;
  const clientProfile = both && profile ? profile.replace('.cpuprofile', '-client.cpuprofile') : profile;
  const v = { serverKind, clientKind, nextWindow: undefined, loadgen: undefined, ready: undefined };
  const sharesServer = shared !== undefined && spec.side === 'client';
  const sharesLoadgen = shared !== undefined && spec.side === 'server';
  if (!sharesServer) {
    v.server = spawnChild(
      'server.mjs',
      [serverKind],
      spec.side !== 'client' ? serverProfile : undefined,
      env,
      options.pin ? SERVER_CPU : undefined,
    );
    try {
      const listening = await messageOf(v.server, 'listening', START_TIMEOUT_MS);
      v.port = listening.port;
      v.bodyBytes = listening.bodyBytes;
    } catch (error) {
      await stopVariant(v);
      throw error;
    }
  } else {
    v.server = shared.server;
    v.port = shared.port;
    v.bodyBytes = shared.bodyBytes;
  }
  if (sharesLoadgen) {
    v.loadgen = shared.loadgen;
    v.ready = messageOf(v.loadgen, 'ready', START_TIMEOUT_MS);
    v.ready.catch(() => {}); // awaited by the caller; not unhandled if the message below cannot go
    await tell(v.loadgen, { type: 'add-target', variant, client: clientKind, port: v.port });
  } else {
    const config = { variant, client: clientKind, port: v.port, concurrency: options.concurrency, ...loadgenConfig };
    v.loadgen = spawnChild(
      'loadgen.mjs',
      [JSON.stringify(config)],
      spec.side !== 'server' ? clientProfile : undefined,
      env,
      options.pin ? LOADGEN_CPU : undefined,
    );
    // A sliced load generator says when it is ready; a separate one starts its window at once.
    v.ready = loadgenConfig.slices === undefined ? Promise.resolve() : messageOf(v.loadgen, 'ready', START_TIMEOUT_MS);
    v.ready.catch(() => {});
  }
  let busyAtStart = Number.NaN;
  v.loadgen.on('message', (m) => {
    // A shared load generator marks the windows of both variants: each goes to its own server.
    if (m.type !== 'mark' || m.variant !== variant) return;
    if (m.phase === 'start') busyAtStart = busyCpuSeconds();
    else {
      // The server answers the end mark with the CPU it used in the window.
      const hostBusyS = busyCpuSeconds() - busyAtStart;
      v.nextWindow = messageOf(v.server, 'window', STOP_TIMEOUT_MS).then(
        (w) => ({ serverCpuUs: w.cpuUs, hostBusyS }),
        () => ({ serverCpuUs: Number.NaN, hostBusyS }),
      );
    }
    if (v.server.connected) v.server.send(m);
  });
  return v;
}

/** Ends a load generator. */
async function stopLoadgen(loadgen) {
  if (loadgen === undefined) return;
  // An idle load generator exits when its channel closes (a busy one reports first, then exits).
  if (loadgen.connected && loadgen.exitCode === null) loadgen.disconnect();
  await endChild(loadgen);
}

/** Ends a server; resolves with the connections it accepted, by the variant whose turn it was ('' without turns). */
async function stopServer(server) {
  let connections = {};
  if (server.connected) {
    server.send({ type: 'stop' });
    connections = await messageOf(server, 'stopped', STOP_TIMEOUT_MS).then(
      (m) => m.connections,
      () => ({}),
    );
  }
  await endChild(server);
  return connections;
}

/** Ends a variant's own processes (separate runs); resolves with the connections its server accepted. */
async function stopVariant(v) {
  await stopLoadgen(v.loadgen);
  const connections = await stopServer(v.server);
  return connections[''] ?? Number.NaN;
}

/**
 * Ends both variants' processes, load generators first, each server once; resolves with each
 * variant's connections (a server files them under the variant whose turn it was).
 */
async function stopVariants(variants) {
  const all = Object.values(variants);
  for (const loadgen of new Set(all.map((v) => v.loadgen))) await stopLoadgen(loadgen);
  const connections = {};
  for (const server of new Set(all.map((v) => v.server))) Object.assign(connections, await stopServer(server));
  return connections;
}

/** The server's report of the window that has just ended (its answer to the load generator's end mark). */
async function windowOf(v) {
  const next = v.nextWindow;
  v.nextWindow = undefined;
  return next ?? { serverCpuUs: Number.NaN, hostBusyS: Number.NaN };
}

/** What a window's figures say per request, and the CPU other processes took during it, in cores. */
function perWindow(window, server, durationS) {
  const others = (server.hostBusyS - (window.clientCpuUs + server.serverCpuUs) / 1e6) / durationS;
  return {
    serverCpuUs: server.serverCpuUs,
    serverCpuUsPerReq: server.serverCpuUs / window.requests,
    otherCores: Number.isFinite(others) ? Math.max(0, others) : Number.NaN,
  };
}

/** One measurement: a fresh server process and a fresh load generator process, one warm-up and one window. */
export async function measure(pair, variant, round, options) {
  const base = { pair, variant, round: round + 1 };
  const warmupMs = warmupOf(pair, options) * 1000;
  const durationMs = options.durationS * 1000;
  let v;
  try {
    v = await startVariant(pair, variant, round, options, { warmupMs, durationMs });
    const limit = START_TIMEOUT_MS + warmupMs + durationMs + DRAIN_MARGIN_MS;
    const { type: _type, ...measured } = await messageOf(v.loadgen, 'result', limit);
    const server = await windowOf(v);
    const connections = await stopVariant(v);
    const done = v;
    v = undefined;
    return {
      ...base,
      server: done.serverKind,
      client: done.clientKind,
      bodyBytes: done.bodyBytes,
      connections,
      ...measured,
      ...perWindow(measured, server, options.durationS),
    };
  } catch (error) {
    return { ...base, error: String(error.message) };
  } finally {
    if (v !== undefined) await stopVariant(v);
  }
}

/**
 * One round of a pair, interleaved: both variants' processes start and warm up, then take turns,
 * `options.slices` windows of `options.sliceS` each, in ABBA order (plain, weft, weft, plain, …),
 * only one variant sending at a time. Window i of one variant is measured next to window i of the
 * other, so a stretch in which the machine runs slower (on this VM they last from a fraction of a
 * second to seconds) falls on both alike. The side that is not under test is one process for both
 * variants (unless `options.ownProcesses`): on a client-side pair one server, on a server-side pair
 * one load generator. It is not what is compared, and a second process would bring its own speed
 * for its whole life (a bare node:http server took 16.6 µs a request in one process and 27.8 in
 * another, which capped its variant at 29,000 req/s against 45,000). Resolves with a run per
 * variant: its windows, and totals over them in the same fields a separate run reports.
 */
export async function measureInterleaved(pair, round, options) {
  const variants = {};
  const sliceMs = options.sliceS * 1000;
  const measuredMs = options.slices * sliceMs;
  const share = PAIRS[pair].side !== 'both' && !options.ownProcesses;
  // Which variant starts first (and owns the shared process) alternates by round, so neither is always the younger process.
  const startOrder = round % 2 === 0 ? ['plain', 'weft'] : ['weft', 'plain'];
  try {
    for (const variant of startOrder) {
      // A variant whose server does not start stops itself; one whose load generator does not is stopped below.
      const shared = share && variant === startOrder[1] ? variants[startOrder[0]] : undefined;
      const config = { slices: options.slices, measuredMs };
      variants[variant] = await startVariant(pair, variant, round, options, config, shared);
      await variants[variant].ready;
    }
    const slice = async (variant, warmupMs, durationMs) => {
      const v = variants[variant];
      // The server files the connections it accepts from now on under this variant.
      await tell(v.server, { type: 'turn', variant });
      await tell(v.loadgen, { type: 'slice', variant, warmupMs, durationMs });
      const done = await messageOf(v.loadgen, 'slice-done', warmupMs + durationMs + DRAIN_MARGIN_MS);
      if (done.error !== undefined) throw new Error(done.error);
      return done;
    };
    const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    // Warm-up: unmeasured windows of the same length, taken in turn as the measured ones are, so
    // neither variant comes to its first measured window after sitting idle through the other's
    // whole warm-up (measured: a first window 30-50 % slower than the next after 3 s idle).
    const warmups = Math.max(1, Math.round(warmupOf(pair, options) / options.sliceS));
    for (let i = 0; i < warmups; i++) {
      for (const variant of i % 2 === 0 ? ['plain', 'weft'] : ['weft', 'plain']) {
        await settle();
        await slice(variant, sliceMs, 0);
      }
    }
    // Warmed up, every process runs one full collection, which sizes its heap's next limit from what
    // it holds now. Without it, V8's limits from start-up decide: a client with telemetry off ran
    // 22 s of load without a full collection (its heap grew to 112 MB) and then collected every
    // 2.5 s, while one with sdk-node loaded collected every 2 s from the start. A service runs
    // far longer than a benchmark, so the steady state is the one to measure.
    const processes = new Set();
    for (const v of Object.values(variants)) processes.add(v.loadgen).add(v.server);
    for (const child of processes) {
      await tell(child, { type: 'collect' });
      await messageOf(child, 'collected', START_TIMEOUT_MS);
    }
    const windows = { plain: [], weft: [] };
    for (let i = 0; i < options.slices; i++) {
      const order = i % 2 === 0 ? ['plain', 'weft'] : ['weft', 'plain'];
      for (const variant of order) {
        await settle();
        // What the other variant's two processes, idle, still use while this one is measured.
        const other = variants[variant === 'plain' ? 'weft' : 'plain'];
        const active = variants[variant];
        const idle = [other.loadgen, other.server].filter((p) => p !== active.loadgen && p !== active.server);
        const idleCpuMs = () => idle.reduce((sum, p) => sum + processCpuMs(p.pid), 0);
        const idleBefore = idleCpuMs();
        const done = await slice(variant, 0, sliceMs);
        const otherIdleMs = idleCpuMs() - idleBefore;
        const server = await windowOf(variants[variant]);
        const { type: _type, error: _error, ...measured } = done;
        windows[variant].push({
          slice: i + 1,
          ...measured,
          ...perWindow(measured, server, options.sliceS),
          otherIdleMs,
        });
      }
    }
    const runs = [];
    for (const variant of ['plain', 'weft']) {
      const v = variants[variant];
      const result = messageOf(v.loadgen, 'result', STOP_TIMEOUT_MS);
      await tell(v.loadgen, { type: 'finish', variant });
      const { type: _type, errors, ...latencies } = await result;
      const ws = windows[variant];
      const sum = (field) => ws.reduce((total, w) => total + w[field], 0);
      const requests = sum('requests');
      const clientCpuUs = sum('clientCpuUs');
      const serverCpuUs = sum('serverCpuUs');
      runs.push({
        pair,
        variant,
        round: round + 1,
        server: v.serverKind,
        client: v.clientKind,
        bodyBytes: v.bodyBytes,
        requests,
        errors,
        rps: requests / (measuredMs / 1000),
        ...latencies,
        clientCpuUs,
        clientCpuUsPerReq: clientCpuUs / requests,
        serverCpuUs,
        serverCpuUsPerReq: serverCpuUs / requests,
        otherCores: Math.max(...ws.map((w) => w.otherCores)),
        // CPU the other variant's idle processes used during this variant's windows, in cores.
        otherIdleCores: sum('otherIdleMs') / measuredMs,
        windows: ws,
      });
    }
    const connections = await stopVariants(variants);
    for (const run of runs) {
      run.connections = connections[run.variant] ?? 0;
      // Which side was one process for both variants: 'server' (client-side pairs), 'loadgen' (server-side), or none.
      run.shared = share ? (PAIRS[pair].side === 'client' ? 'server' : 'loadgen') : undefined;
    }
    return runs;
  } catch (error) {
    await stopVariants(variants);
    return ['plain', 'weft'].map((variant) => ({ pair, variant, round: round + 1, error: String(error.message) }));
  }
}
