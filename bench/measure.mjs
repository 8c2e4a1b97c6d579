// One measurement: a fresh server process and a fresh load generator process, and what each reports.
import { fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from '@weft/security';
import { busyCpuSeconds } from './host-load.mjs';
import { PAIRS } from './options.mjs';

const START_TIMEOUT_MS = 15_000; // for a server to listen or a load generator to load
const STOP_TIMEOUT_MS = 5_000; // for a process to report and exit
const DRAIN_MARGIN_MS = 15_000; // beyond warm-up and window, before a silent load generator counts as hung
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

function spawnChild(script, args, profileName, env) {
  const execArgv = profileName ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`, `--cpu-prof-name=${profileName}`] : [];
  return fork(fileURLToPath(new URL(script, import.meta.url)), args, {
    execArgv,
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
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

/** One measurement: a fresh server process and a fresh load generator process. */
export async function measure(pair, variant, round, options) {
  const spec = PAIRS[pair];
  const both = spec.side === 'both';
  const serverKind = both ? spec[variant].server : spec.side === 'server' ? spec[variant] : spec.server;
  const clientKind = both ? spec[variant].client : spec.side === 'client' ? spec[variant] : spec.client;
  const profile = options.cpuProf ? `${pair}-${variant}-r${round + 1}.cpuprofile` : undefined;
  const env = both ? { ...process.env, WEFT_CA_DIR: await benchCaDir() } : process.env;
  // A pair with weft on both sides profiles both processes.
  const serverProfile = both && profile ? profile.replace('.cpuprofile', '-server.cpuprofile') : profile;
  const clientProfile = both && profile ? profile.replace('.cpuprofile', '-client.cpuprofile') : profile;
  const server = spawnChild('server.mjs', [serverKind], spec.side !== 'client' ? serverProfile : undefined, env);
  let loadgen;
  let stopping = false;
  try {
    const { port, bodyBytes } = await messageOf(server, 'listening', START_TIMEOUT_MS);
    const config = {
      client: clientKind,
      port,
      concurrency: options.concurrency,
      warmupMs: options.warmupS * 1000,
      durationMs: options.durationS * 1000,
    };
    loadgen = spawnChild(
      'loadgen.mjs',
      [JSON.stringify(config)],
      spec.side !== 'server' ? clientProfile : undefined,
      env,
    );
    const hostBusy = {};
    loadgen.on('message', (m) => {
      if (m.type !== 'mark') return;
      hostBusy[m.phase] = busyCpuSeconds();
      if (server.connected) server.send(m);
    });
    const result = await messageOf(
      loadgen,
      'result',
      START_TIMEOUT_MS + config.warmupMs + config.durationMs + DRAIN_MARGIN_MS,
    );
    await endChild(loadgen);
    stopping = true;
    server.send({ type: 'stop' });
    const { marks, connections } = await messageOf(server, 'stopped', STOP_TIMEOUT_MS);
    const serverCpu =
      marks.start && marks.end ? marks.end.user + marks.end.system - marks.start.user - marks.start.system : Number.NaN;
    const { type: _type, ...measured } = result;
    // CPU the rest of the machine took during the window, in cores: other tenants, or this harness's own noise.
    const otherCores = (hostBusy.end - hostBusy.start - (result.clientCpuUs + serverCpu) / 1e6) / options.durationS;
    return {
      pair,
      variant,
      round: round + 1,
      server: serverKind,
      client: clientKind,
      bodyBytes,
      connections,
      ...measured,
      serverCpuUs: serverCpu,
      serverCpuUsPerReq: serverCpu / result.requests,
      otherCores: Math.max(0, otherCores),
    };
  } catch (error) {
    return { pair, variant, round: round + 1, server: serverKind, client: clientKind, error: String(error.message) };
  } finally {
    if (loadgen) await endChild(loadgen);
    if (server.connected && !stopping) server.send({ type: 'stop' });
    await endChild(server);
  }
}
