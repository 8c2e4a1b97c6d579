// DNS discovery: a service's endpoints from A/AAAA records (a port given) or SRV records (ports from DNS), re-resolved by TTL.
import { Resolver } from 'node:dns/promises';
import type { Endpoint } from '@weft/core';
import type { DiscoverySink } from './registry.js';
import type { DiscoverySource } from './source.js';
import { toEndpoint } from './static.js';

export interface DnsService {
  /** The DNS name to resolve: `reviews.default.svc.cluster.local`, or an SRV name `_http._tcp.reviews…`. */
  name: string;
  /** `A` (IPv4, the default), `AAAA` (IPv6), `A+AAAA`, or `SRV` (targets and ports from the records). */
  type?: 'A' | 'AAAA' | 'A+AAAA' | 'SRV';
  /** The port of every address, for A/AAAA. */
  port?: number;
  /** Labels every endpoint of the service carries (subsets select on them). */
  labels?: Record<string, string>;
}

export interface DnsDiscoveryOptions {
  /** DNS servers to ask (`127.0.0.1:5353`); the system's by default. */
  servers?: string[];
  /** Bounds on the wait before resolving again, whatever the TTL says; in ms. */
  minRefreshMs?: number;
  maxRefreshMs?: number;
  /** Told of each failed resolution (the last endpoints stay). */
  onError?: (service: string, error: Error) => void;
}

export const DNS_DEFAULTS = { minRefreshMs: 1_000, maxRefreshMs: 30_000 } as const;

/** Answers that say the name has no records now: the service's endpoint set is empty, not unknown. */
const AUTHORITATIVE_EMPTY = new Set(['ENOTFOUND', 'ENODATA']);

interface Resolved {
  endpoints: Endpoint[];
  /** The shortest TTL of the records, in seconds. */
  ttl: number;
}

async function addresses(resolver: Resolver, name: string, family: 4 | 6): Promise<{ address: string; ttl: number }[]> {
  try {
    return family === 4 ? await resolver.resolve4(name, { ttl: true }) : await resolver.resolve6(name, { ttl: true });
  } catch (error) {
    if (AUTHORITATIVE_EMPTY.has((error as NodeJS.ErrnoException).code ?? '')) return [];
    throw error;
  }
}

async function resolveService(resolver: Resolver, spec: DnsService, maxTtl: number): Promise<Resolved> {
  const labels = spec.labels ?? {};
  const type = spec.type ?? 'A';
  if (type === 'SRV') {
    let records: Awaited<ReturnType<Resolver['resolveSrv']>>;
    try {
      records = await resolver.resolveSrv(spec.name);
    } catch (error) {
      if (AUTHORITATIVE_EMPTY.has((error as NodeJS.ErrnoException).code ?? '')) return { endpoints: [], ttl: maxTtl };
      throw error;
    }
    // RFC 2782: the lowest priority is used; higher ones are for when it has no targets.
    const best = Math.min(...records.map((r) => r.priority));
    const chosen = records.filter((r) => r.priority === best);
    const endpoints: Endpoint[] = [];
    let ttl = maxTtl;
    for (const r of chosen) {
      const found = await addresses(resolver, r.name, 4);
      for (const a of found) {
        ttl = Math.min(ttl, a.ttl);
        endpoints.push(toEndpoint({ host: a.address, port: r.port, labels, weight: r.weight }));
      }
    }
    return { endpoints, ttl };
  }
  if (spec.port === undefined) throw new Error(`a ${type} service needs a port: ${spec.name}`);
  const port = spec.port;
  const found = [
    ...(type === 'A' || type === 'A+AAAA' ? await addresses(resolver, spec.name, 4) : []),
    ...(type === 'AAAA' || type === 'A+AAAA' ? await addresses(resolver, spec.name, 6) : []),
  ];
  return {
    endpoints: found.map((a) => toEndpoint({ host: a.address, port, labels })),
    ttl: found.length === 0 ? maxTtl : Math.min(...found.map((a) => a.ttl)),
  };
}

/**
 * Endpoints from DNS, one name per service, resolved again when the shortest TTL runs out (within
 * `minRefreshMs`–`maxRefreshMs`). A name with no records (NXDOMAIN, NODATA) gives an empty set;
 * a failure to resolve (timeout, SERVFAIL, refused) keeps the last endpoints, marks the source
 * stale and tries again after `minRefreshMs`, doubling up to `maxRefreshMs`: a DNS outage never
 * empties a service. The first resolution of each service must answer, else `start` fails.
 */
export function dnsDiscovery(services: Record<string, DnsService>, options: DnsDiscoveryOptions = {}): DiscoverySource {
  const resolver = new Resolver({ timeout: 1_000, tries: 2 });
  if (options.servers !== undefined) resolver.setServers(options.servers);
  const min = options.minRefreshMs ?? DNS_DEFAULTS.minRefreshMs;
  const max = options.maxRefreshMs ?? DNS_DEFAULTS.maxRefreshMs;
  const timers = new Map<string, NodeJS.Timeout>();
  let closed = false;
  const follow = async (sink: DiscoverySink, host: string, spec: DnsService, failures: number, first: boolean) => {
    let wait: number;
    try {
      const { endpoints, ttl } = await resolveService(resolver, spec, max / 1000);
      if (closed) return;
      sink.set(host, endpoints);
      wait = Math.min(max, Math.max(min, ttl * 1000));
      failures = 0;
    } catch (error) {
      if (first) throw error;
      if (closed) return;
      failures++;
      sink.stale(`${spec.name} for ${host}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      options.onError?.(host, error as Error);
      wait = Math.min(max, min * 2 ** (failures - 1));
    }
    timers.set(host, setTimeout(() => void follow(sink, host, spec, failures, false), wait).unref());
  };
  return {
    name: 'dns',
    async start(sink) {
      await Promise.all(Object.entries(services).map(([host, spec]) => follow(sink, host, spec, 0, true)));
    },
    close() {
      closed = true;
      for (const t of timers.values()) clearTimeout(t);
      resolver.cancel();
      return Promise.resolve();
    },
  };
}
