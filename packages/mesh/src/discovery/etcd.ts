// etcd discovery: services register under a key prefix with a lease; meshes watch the prefix, resync after a reconnect, and keep what they had while etcd is away.
import type { Endpoint, EndpointHealth } from '@weft/core';
import { ENDPOINT_HEALTH, WeftError } from '@weft/core';
import { ExponentialBackoff } from 'cockatiel';
import { Etcd3, type IKeyValue, type Lease, type Watcher } from 'etcd3';
import { parseAddress } from '../options/address.js';
import type { DiscoverySink } from './registry.js';
import type { DiscoverySource } from './source.js';
import { toEndpoint } from './static.js';

/**
 * The key layout: `<prefix><service>/<instance>` → JSON `{ address, labels, locality, weight }`,
 * where `<service>` is the fully qualified host (`reviews.default.svc.cluster.local`) and
 * `<instance>` names one process (`<hostname>-<pid>-<port>`). Documented in docs/discovery.md.
 */
export const ETCD_DEFAULT_PREFIX = '/weft/services/';

export interface EtcdOptions {
  /** etcd client URLs: `http://127.0.0.1:2379`. */
  hosts: string[];
  /** The key prefix services register under; default `/weft/services/`. */
  prefix?: string;
  /** Time allowed to reach etcd and for each request to it (a page read, a put, a lease grant), in ms; default 3000. */
  dialTimeoutMs?: number;
}

interface Registered {
  address: string;
  labels?: Record<string, string>;
  locality?: string;
  weight?: number;
  health?: EndpointHealth;
}

/** Keys read per request of a full read: a page stays far below gRPC's 4 MiB message limit. */
const PAGE = 1_000;

/** The key just past every key that starts with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * Every key under `prefix` at one revision, read in pages (one range of 100,000 endpoints is
 * ~14 MB, past gRPC's message limit): the first page fixes the revision, the others read at it.
 */
async function readPrefix(etcd: Etcd3, prefix: string): Promise<{ kvs: IKeyValue[]; revision: string }> {
  const end = prefixEnd(Buffer.from(prefix));
  const kvs: IKeyValue[] = [];
  let key = Buffer.from(prefix);
  let revision: string | undefined;
  for (;;) {
    const res = await etcd.kv.range({
      key,
      range_end: end,
      limit: PAGE,
      ...(revision === undefined ? {} : { revision }),
    });
    revision ??= String(res.header.revision);
    kvs.push(...res.kvs);
    const last = res.kvs.at(-1);
    if (!res.more || last === undefined) break;
    key = Buffer.concat([last.key, Buffer.from([0])]);
  }
  return { kvs, revision };
}

/** What following a prefix reports. */
interface PrefixEvents {
  /** Everything under the prefix at one revision: at the start, after a reconnect, and after a cancelled watch. */
  read(kvs: IKeyValue[]): void;
  /** One change seen by the watch. */
  change(kv: IKeyValue, deleted: boolean): void;
  /** etcd is away, or a read after a reconnect failed: what was read last stays in force. */
  trouble(error: Error): void;
}

interface PrefixFollower {
  close(): Promise<void>;
}

/** The wait before the next read after a failed one: from 500 ms, doubling to 10 s. */
const REREAD_MS = { first: 500, max: 10_000 };

/** The wait before etcd3 tries a broken watch again: from about 500 ms, growing with jitter to at most 5 s. */
const WATCH_BACKOFF = new ExponentialBackoff({ initialDelay: 500, maxDelay: 5_000 });

/**
 * Reads `prefix` in full at one revision, then watches it from the next revision. After a
 * reconnect (etcd restarted, network cut) it reads the prefix in full again: etcd3 resumes the
 * watch from its last revision too, and the read makes the view right even if a resumed watch
 * missed something. When etcd cancels the watch (a revision it resumed from has been compacted
 * away: the watch would miss changes), a full read at a new revision and a new watch from there
 * replace it. A failed read is tried again with backoff, the view kept meanwhile. The first read
 * is awaited and its failure thrown.
 */
async function followPrefix(etcd: Etcd3, prefix: string, on: PrefixEvents): Promise<PrefixFollower> {
  let closed = false;
  let watcher: Watcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reading = false;

  /**
   * Starts a watch from the revision after `revision` without waiting for etcd to confirm it (it is
   * held at once, so close() can cancel it while it connects; etcd3 connects it when it can).
   */
  const watchFrom = (revision: string): void => {
    if (closed) return;
    const w = etcd
      .watch()
      .prefix(prefix)
      .startRevision(String(BigInt(revision) + 1n))
      .watcher();
    watcher = w;
    let lost = false;
    w.on('put', (kv) => on.change(kv, false));
    w.on('delete', (kv) => on.change(kv, true));
    w.on('disconnected', (error) => {
      lost = true;
      on.trouble(error);
    });
    w.on('connected', () => {
      if (!lost) return;
      lost = false;
      recover(false, REREAD_MS.first);
    });
    // etcd cancelled the watch (compaction): it delivers nothing more, so it is replaced.
    w.on('error', (error) => {
      if (watcher !== w) return;
      watcher = undefined;
      // etcd 3.4 gives no reason for a compaction (only the compacted revision, which etcd3 drops).
      on.trouble(
        new Error(
          `etcd ended the watch of ${prefix} (${error.message}); most often the revision it was at has been compacted: reading it all again`,
          { cause: error },
        ),
      );
      recover(true, REREAD_MS.first);
    });
  };

  /** A recovery asked for while a read was in flight, done after it: `true` when it needs a new watch. */
  let again: boolean | undefined;

  /** A full read; with `rewatch`, a new watch from its revision. Tried again until it succeeds or the follower closes. */
  const recover = (rewatch: boolean, wait: number): void => {
    if (closed) return;
    if (reading) {
      // A reconnect's read may be under way when etcd cancels the watch: the new watch must not be lost.
      again = again === true || rewatch;
      return;
    }
    reading = true;
    readPrefix(etcd, prefix)
      .then((read) => {
        if (closed) return;
        on.read(read.kvs);
        if (rewatch) watchFrom(read.revision);
        reading = false;
        if (again !== undefined) {
          const next = again;
          again = undefined;
          recover(next, REREAD_MS.first);
        }
      })
      .catch((error: unknown) => {
        reading = false;
        if (closed) return;
        on.trouble(error as Error);
        const next = rewatch || again === true || watcher === undefined;
        again = undefined;
        clearTimeout(timer);
        timer = setTimeout(() => recover(next, Math.min(wait * 2, REREAD_MS.max)), wait);
        timer.unref();
      });
  };

  const first = await readPrefix(etcd, prefix);
  on.read(first.kvs);
  watchFrom(first.revision);
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await watcher?.cancel().catch(() => undefined);
    },
  };
}

/** WEFT_ERR_DISCOVERY for what could not be done with etcd: `cannot <what> etcd at <hosts>: <why>`. */
function etcdError(what: string, options: EtcdOptions, error: unknown): WeftError {
  return new WeftError(
    'WEFT_ERR_DISCOVERY',
    `cannot ${what} etcd at ${options.hosts.join(', ')}: ${(error as Error).message}`,
    { cause: error },
  );
}

function client(options: EtcdOptions): Etcd3 {
  const timeoutMs = options.dialTimeoutMs ?? 3_000;
  return new Etcd3({
    hosts: options.hosts,
    dialTimeout: timeoutMs,
    // etcd3 1.1 bounds no request by itself: each one (a page read, a put, a lease grant) gets a
    // deadline, so an unreachable etcd fails a read in time instead of stalling it. Streams (watches,
    // keep-alives) have none.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    // etcd3 reconnects a broken watch with cockatiel's default backoff, whose waits grow to 30 s: after
    // an outage of some seconds, a mesh went on for up to 30 s more without seeing a change once etcd
    // was back. Bounded here as a failed read is (REREAD_MS), but to 5 s, with cockatiel's jitter, so a
    // fleet's watches come back within seconds and not all at once. etcd3 is typed to take a backoff
    // state and calls next() on it for the first wait (and again after each good connection), so it
    // gets a state of zero whose next() is the factory's first wait, as its own default behaves.
    faultHandling: { watchBackoff: { duration: 0, next: () => WATCH_BACKOFF.next() } },
  });
}

/** `<service>/<instance>` of a key under the prefix, or undefined for a key of another shape. */
function keyParts(key: string, prefix: string): { service: string; instance: string } | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  const slash = rest.lastIndexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { service: rest.slice(0, slash), instance: rest.slice(slash + 1) };
}

function endpointOf(value: string): Endpoint | undefined {
  try {
    const v = JSON.parse(value) as Registered;
    const address = parseAddress(v.address);
    if (typeof address === 'string') return undefined;
    // Any other health (Envoy's UNKNOWN, a typo) counts as healthy: a registry entry never hides an endpoint by mistake.
    const health = ENDPOINT_HEALTH.find((h) => h === String(v.health).toUpperCase());
    return toEndpoint({ ...address, labels: v.labels, locality: v.locality, weight: v.weight, health });
  } catch {
    return undefined;
  }
}

export interface EtcdDiscoveryOptions extends EtcdOptions {
  /**
   * Which services to follow: `'all'` (default) watches the whole prefix; a list of fully
   * qualified hosts watches each one's own prefix (`<prefix><host>/`); `'called'` watches a
   * service's prefix from the first call that names it (the call waits for that one read).
   */
  services?: 'all' | 'called' | readonly string[];
  /** Told when the watch breaks or a read fails (the last endpoints stay). */
  onError?: (error: Error) => void;
}

/** Why a source's view is stale, from an etcd error. */
const staleReason = (error: Error) => `etcd: ${error.message}`;

/**
 * Endpoints of the services registered under the prefix: all of them with one watch of the
 * prefix, or each named (or called) service with a watch of its own, each a full read at a known
 * revision and then a watch from the next one. While etcd is away the endpoints stay and the
 * source is marked stale; after it is back a full read replaces what was followed, so changes
 * made meanwhile are seen, and a watch cancelled for compaction is replaced (followPrefix).
 */
export function etcdDiscovery(options: EtcdDiscoveryOptions): DiscoverySource {
  const prefix = options.prefix ?? ETCD_DEFAULT_PREFIX;
  const mode = options.services ?? 'all';
  const etcd = client(options);
  const followers = new Set<PrefixFollower>();
  /** The services followed one by one, and the first read of each (awaited by the calls that wait for it). */
  const followed = new Map<string, Promise<void>>();
  let closed = false;
  const instancesOf = new Map<string, Map<string, Endpoint>>();
  const endpointsOf = (service: string) => [...(instancesOf.get(service)?.values() ?? [])];

  /** Records one key; the service it changed, or undefined for a key of another shape (or another service). */
  const record = (kv: IKeyValue, deleted: boolean, only?: string): string | undefined => {
    const parts = keyParts(kv.key.toString(), prefix);
    if (parts === undefined || (only !== undefined && parts.service !== only)) return undefined;
    let instances = instancesOf.get(parts.service);
    if (deleted) {
      if (instances?.delete(parts.instance) !== true) return undefined;
    } else {
      const endpoint = endpointOf(kv.value.toString());
      if (endpoint === undefined) return undefined;
      if (instances === undefined) {
        instances = new Map();
        instancesOf.set(parts.service, instances);
      }
      instances.set(parts.instance, endpoint);
    }
    return parts.service;
  };

  const trouble = (sink: DiscoverySink) => (error: Error) => {
    sink.stale(staleReason(error));
    options.onError?.(error);
  };

  const followAll = async (sink: DiscoverySink) => {
    const follower = await followPrefix(etcd, prefix, {
      read(kvs) {
        instancesOf.clear();
        for (const kv of kvs) record(kv, false);
        sink.replaceAll(new Map([...instancesOf.keys()].map((s) => [s, endpointsOf(s)])));
      },
      change(kv, deleted) {
        const service = record(kv, deleted);
        if (service !== undefined) sink.set(service, endpointsOf(service));
      },
      trouble: trouble(sink),
    });
    followers.add(follower);
  };

  /** Follows one service's own prefix; a service with no endpoint yet is not published (a call to it is not for the mesh). */
  const followOne = (sink: DiscoverySink, service: string): Promise<void> => {
    let first = followed.get(service);
    if (first !== undefined) return first;
    let published = false;
    const publish = () => {
      const endpoints = endpointsOf(service);
      if (endpoints.length === 0 && !published) {
        sink.refreshed();
        return;
      }
      published = true;
      sink.set(service, endpoints);
    };
    first = followPrefix(etcd, `${prefix}${service}/`, {
      read(kvs) {
        instancesOf.delete(service);
        for (const kv of kvs) record(kv, false, service);
        publish();
      },
      change(kv, deleted) {
        if (record(kv, deleted, service) !== undefined) publish();
      },
      trouble: trouble(sink),
    }).then(
      (follower) => {
        if (closed) return follower.close();
        followers.add(follower);
      },
      (error: unknown) => {
        // Not followed: the next call that names the service asks again.
        followed.delete(service);
        throw error;
      },
    );
    followed.set(service, first);
    return first;
  };

  return {
    name: `etcd ${options.hosts.join(',')}`,
    async start(sink) {
      try {
        if (mode === 'all') await followAll(sink);
        else if (mode !== 'called') await Promise.all(mode.map((service) => followOne(sink, service)));
      } catch (error) {
        closed = true;
        await Promise.all([...followers].map((f) => f.close()));
        etcd.close();
        throw etcdError(`read ${prefix} from`, options, error);
      }
      if (mode === 'called') {
        sink.onDemand((service) =>
          followOne(sink, service).catch((error: unknown) => {
            sink.stale(staleReason(error as Error));
            options.onError?.(etcdError(`read ${prefix}${service}/ from`, options, error));
            throw error;
          }),
        );
      }
    },
    async close() {
      closed = true;
      await Promise.all([...followers].map((f) => f.close()));
      etcd.close();
    },
  };
}

export interface Registration {
  close(): Promise<void>;
}

/**
 * Registers one endpoint of `service` under a lease kept alive by etcd3: a process that dies stops
 * renewing it and etcd removes the key after `ttlSeconds`; `close()` revokes it at once. A lease
 * lost while etcd was unreachable is granted again and the key written again, with backoff.
 */
export async function registerInEtcd(
  options: EtcdOptions & {
    service: string;
    instance: string;
    endpoint: Registered;
    ttlSeconds: number;
    onError?: (error: Error) => void;
  },
): Promise<Registration> {
  const prefix = options.prefix ?? ETCD_DEFAULT_PREFIX;
  const etcd = client(options);
  const key = `${prefix}${options.service}/${options.instance}`;
  const value = JSON.stringify(options.endpoint);
  let lease: Lease | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const register = async (): Promise<void> => {
    const l = etcd.lease(options.ttlSeconds, { autoKeepAlive: true });
    lease = l;
    l.on('lost', (error) => {
      if (closed) return;
      options.onError?.(error);
      const again = (wait: number) => {
        timer = setTimeout(() => {
          register().catch(() => again(Math.min(wait * 2, 10_000)));
        }, wait).unref();
      };
      again(500);
    });
    await l.put(key).value(value);
  };
  try {
    await register();
  } catch (error) {
    etcd.close();
    throw etcdError(`register ${key} in`, options, error);
  }
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await lease?.revoke().catch(() => undefined);
      etcd.close();
    },
  };
}

/** Where fleet-wide policy documents live unless told otherwise: one key per document set (`<prefix>reviews.yaml`). */
export const ETCD_POLICY_PREFIX = '/weft/policy/';

export interface EtcdPolicyWatch {
  close(): Promise<void>;
}

/**
 * Policy documents from etcd: every key under the prefix is YAML or JSON (one or more documents),
 * read in key order. `onChange` gets the whole set after the first read and after every change
 * (a burst of writes settles for 50 ms first); while etcd is away nothing changes, and a full read
 * follows the reconnect. Each text's origin is `etcd:<key>`, so a problem names the key and line.
 */
export async function watchEtcdPolicy(
  options: EtcdOptions & {
    onChange: (texts: { origin: string; text: string }[]) => void;
    onError?: (error: Error) => void;
  },
): Promise<{ first: { origin: string; text: string }[]; watch: EtcdPolicyWatch }> {
  const prefix = options.prefix ?? ETCD_POLICY_PREFIX;
  const etcd = client(options);
  /** Every document by key; sorted by key when handed on. */
  const texts = new Map<string, string>();
  const all = () => [...texts.keys()].sort().map((key) => ({ origin: `etcd:${key}`, text: texts.get(key) as string }));
  let started = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const changed = () => {
    if (!started) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!closed) options.onChange(all());
    }, 50).unref();
  };
  let follower: PrefixFollower;
  try {
    follower = await followPrefix(etcd, prefix, {
      read(kvs) {
        texts.clear();
        for (const kv of kvs) texts.set(kv.key.toString(), kv.value.toString());
        changed();
      },
      change(kv, deleted) {
        if (deleted) texts.delete(kv.key.toString());
        else texts.set(kv.key.toString(), kv.value.toString());
        changed();
      },
      trouble: (error) => options.onError?.(error),
    });
  } catch (error) {
    etcd.close();
    throw etcdError(`read policy under ${prefix} from`, options, error);
  }
  started = true;
  return {
    first: all(),
    watch: {
      async close() {
        closed = true;
        clearTimeout(timer);
        await follower.close();
        etcd.close();
      },
    },
  };
}
