// etcd discovery: services register under a key prefix with a lease; meshes watch the prefix, resync after a reconnect, and keep what they had while etcd is away.
import type { Endpoint } from '@weft/core';
import { WeftError } from '@weft/core';
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
  /** Time allowed to reach etcd, in ms; default 3000. */
  dialTimeoutMs?: number;
}

interface Registered {
  address: string;
  labels?: Record<string, string>;
  locality?: string;
  weight?: number;
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

/** What a watch of a prefix reports: each change, a lost connection, and when a full read is due. */
interface PrefixEvents {
  change(kv: IKeyValue, deleted: boolean): void;
  /** The watch broke (etcd away): what was read stays in force. */
  lost(error: Error): void;
  /** Read the prefix again: after a reconnect (changes made meanwhile) or a watch error (a compacted revision). */
  resync(error?: Error): void;
}

/** Watches `prefix` from the revision after `revision` (the one a full read was made at). */
async function followPrefix(etcd: Etcd3, prefix: string, revision: string, on: PrefixEvents): Promise<Watcher> {
  const watcher = await etcd
    .watch()
    .prefix(prefix)
    .startRevision(String(BigInt(revision) + 1n))
    .create();
  let lost = false;
  watcher.on('put', (kv) => on.change(kv, false));
  watcher.on('delete', (kv) => on.change(kv, true));
  watcher.on('disconnected', (error) => {
    lost = true;
    on.lost(error);
  });
  watcher.on('connected', () => {
    if (!lost) return;
    lost = false;
    on.resync();
  });
  watcher.on('error', (error) => on.resync(error));
  return watcher;
}

function client(options: EtcdOptions): Etcd3 {
  return new Etcd3({ hosts: options.hosts, dialTimeout: options.dialTimeoutMs ?? 3_000 });
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
    return toEndpoint({ ...address, labels: v.labels, locality: v.locality, weight: v.weight });
  } catch {
    return undefined;
  }
}

export interface EtcdDiscoveryOptions extends EtcdOptions {
  /** Told when the watch breaks or a resync fails (the last endpoints stay). */
  onError?: (error: Error) => void;
}

/**
 * Endpoints of every service registered under the prefix: a full read at a known revision, then a
 * watch from the next one. When the watch breaks (etcd restarted, network cut), the endpoints stay
 * and the source is marked stale; when it reconnects, a full read replaces everything (a
 * compacted revision is handled the same way), so changes made meanwhile are seen.
 */
export function etcdDiscovery(options: EtcdDiscoveryOptions): DiscoverySource {
  const prefix = options.prefix ?? ETCD_DEFAULT_PREFIX;
  const etcd = client(options);
  let watcher: Watcher | undefined;
  let closed = false;
  const services = new Map<string, Map<string, Endpoint>>();
  const endpointsOf = (service: string) => [...(services.get(service)?.values() ?? [])];

  const apply = (kv: IKeyValue, deleted: boolean, sink: DiscoverySink) => {
    const parts = keyParts(kv.key.toString(), prefix);
    if (parts === undefined) return;
    let instances = services.get(parts.service);
    if (deleted) instances?.delete(parts.instance);
    else {
      const endpoint = endpointOf(kv.value.toString());
      if (endpoint === undefined) return;
      if (instances === undefined) {
        instances = new Map();
        services.set(parts.service, instances);
      }
      instances.set(parts.instance, endpoint);
    }
    sink.set(parts.service, endpointsOf(parts.service));
  };

  const fullRead = async (sink: DiscoverySink): Promise<string> => {
    const read = await readPrefix(etcd, prefix);
    services.clear();
    for (const kv of read.kvs) apply(kv, false, { set: () => {}, replaceAll: () => {}, stale: () => {} });
    sink.replaceAll(new Map([...services.keys()].map((s) => [s, endpointsOf(s)])));
    return read.revision;
  };

  return {
    name: `etcd ${options.hosts.join(',')}`,
    async start(sink) {
      let revision: string;
      try {
        revision = await fullRead(sink);
      } catch (error) {
        etcd.close();
        throw new WeftError(
          'WEFT_ERR_DISCOVERY',
          `cannot read ${prefix} from etcd at ${options.hosts.join(', ')}: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      let resyncing = false;
      const resync = () => {
        if (resyncing || closed) return;
        resyncing = true;
        fullRead(sink).then(
          () => {
            resyncing = false;
          },
          (error: unknown) => {
            resyncing = false;
            sink.stale(`etcd resync failed: ${(error as Error).message}`);
            options.onError?.(error as Error);
          },
        );
      };
      watcher = await followPrefix(etcd, prefix, revision, {
        change: (kv, deleted) => apply(kv, deleted, sink),
        lost: (error) => {
          sink.stale(`etcd watch lost: ${error.message}`);
          options.onError?.(error);
        },
        resync: (error) => {
          if (error !== undefined) {
            sink.stale(`etcd watch failed: ${error.message}`);
            options.onError?.(error);
          }
          resync();
        },
      });
    },
    async close() {
      closed = true;
      await watcher?.cancel().catch(() => undefined);
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
    throw new WeftError(
      'WEFT_ERR_DISCOVERY',
      `cannot register ${key} in etcd at ${options.hosts.join(', ')}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
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
  const readAll = async () => {
    const read = await readPrefix(etcd, prefix);
    const texts = read.kvs
      .map((kv) => ({ origin: `etcd:${kv.key.toString()}`, text: kv.value.toString() }))
      .sort((a, b) => (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0));
    return { texts, revision: read.revision };
  };
  let first: Awaited<ReturnType<typeof readAll>>;
  try {
    first = await readAll();
  } catch (error) {
    etcd.close();
    throw new WeftError(
      'WEFT_ERR_DISCOVERY',
      `cannot read policy under ${prefix} from etcd at ${options.hosts.join(', ')}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const reread = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (closed) return;
      readAll().then(
        ({ texts }) => {
          if (!closed) options.onChange(texts);
        },
        (error: unknown) => options.onError?.(error as Error),
      );
    }, 50).unref();
  };
  const watcher = await followPrefix(etcd, prefix, first.revision, {
    change: reread,
    lost: (error) => options.onError?.(error),
    resync: (error) => {
      if (error !== undefined) options.onError?.(error);
      reread();
    },
  });
  return {
    first: first.texts,
    watch: {
      async close() {
        closed = true;
        clearTimeout(timer);
        await watcher.cancel().catch(() => undefined);
        etcd.close();
      },
    },
  };
}
