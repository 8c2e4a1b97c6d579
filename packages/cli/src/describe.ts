// `weft describe SERVICE`: one service as a running mesh sees it, read from the mesh's admin endpoint and printed for a person.

export const DESCRIBE_HELP = `weft describe: what a running mesh knows of one service

Usage:
  weft describe [--admin URL] [--output text|json] SERVICE

Reads the admin endpoint of a running mesh (mesh.admin(); default
http://127.0.0.1:15000) and prints, for SERVICE (a short name such as
"reviews" or a full host): the VirtualServices and DestinationRules that name
it, each endpoint with its labels, locality, weight and health (ejected or
not, consecutive failures), connection pool counts, circuit breaker state,
the calls this workload made to it (by status and error, with latency), and
the workload's own identity and certificate expiry.

Exit status:
  0  printed
  1  the mesh knows no such service
  2  a bad flag, or the admin endpoint could not be read
`;

interface Endpoint {
  address: string;
  labels: Record<string, string>;
  locality: string;
  weight: number;
  /** From discovery: HEALTHY, UNHEALTHY or DRAINING (absent from a mesh before it was reported). */
  health?: string;
  ejected: boolean;
  outlier?: {
    ejections: number;
    consecutive5xx: number;
    consecutiveLocalOriginFailures: number;
    ejectedUntil?: number;
  };
}
interface Destination {
  service: string;
  pool?: { active: number; pending: number };
  endpoints: Endpoint[];
}
interface Clusters {
  destinations: Destination[];
  breakers: {
    destination: string;
    state: string;
    window: { calls: number; failures: number };
    opened: number;
    rejected: number;
  }[];
}
interface Resource {
  kind: string;
  metadata: { name: string; namespace: string };
  spec: { host?: string; hosts?: string[] };
  origin: string;
}
interface ServiceStats {
  service: string;
  requests: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  latencyMs: { p50: number; p99: number };
}

export interface Description {
  service: string;
  admin: string;
  policy: { version: number; resources: { kind: string; name: string; origin: string }[] };
  destinations: (Destination & { breaker?: Clusters['breakers'][number] })[];
  calls: ServiceStats | undefined;
  identity: { identity: string | null; notAfter?: string; expiresInSeconds?: number };
}

async function read<T>(admin: string, path: string): Promise<T> {
  const res = await fetch(new URL(path, admin));
  if (!res.ok) throw new Error(`${admin}${path} answered ${res.status}`);
  return (await res.json()) as T;
}

/** Whether `host` (as a resource or the registry writes it) is `service` (short or full). */
function isService(host: string, service: string): boolean {
  return host === service || host.startsWith(`${service}.`);
}

/** What the mesh at `admin` knows of `service`; `undefined` when it knows nothing. */
export async function describe(admin: string, service: string): Promise<Description | undefined> {
  const [clusters, dump, stats, certs] = await Promise.all([
    read<Clusters>(admin, '/clusters'),
    read<{ version: number; resources: Resource[] }>(admin, '/config_dump'),
    read<{ outbound: ServiceStats[] }>(admin, '/stats'),
    read<Description['identity']>(admin, '/certs'),
  ]);
  const destinations = clusters.destinations
    .filter((d) => isService(d.service, service))
    .map((d) => {
      const breaker = clusters.breakers.find((b) => b.destination === d.service);
      return breaker === undefined ? d : { ...d, breaker };
    });
  const resources = dump.resources.filter(
    (r) =>
      (r.spec.host !== undefined && isService(r.spec.host, service)) ||
      (r.spec.hosts ?? []).some((h) => isService(h, service)),
  );
  if (destinations.length === 0 && resources.length === 0) return undefined;
  return {
    service: destinations[0]?.service ?? service,
    admin,
    policy: {
      version: dump.version,
      resources: resources.map((r) => ({
        kind: r.kind,
        name: `${r.metadata.namespace}/${r.metadata.name}`,
        origin: r.origin,
      })),
    },
    destinations,
    calls: stats.outbound.find((s) => isService(s.service, service)),
    identity: certs,
  };
}

/** The description as text for a terminal. */
export function formatDescription(d: Description): string {
  const out: string[] = [`${d.service}  (from ${d.admin})`, ''];
  out.push(`Policy (snapshot ${d.policy.version}):`);
  if (d.policy.resources.length === 0) out.push('  no VirtualService or DestinationRule names it');
  for (const r of d.policy.resources) out.push(`  ${r.kind} ${r.name}  ${r.origin}`);
  for (const dest of d.destinations) {
    out.push('', `Endpoints of ${dest.service}:`);
    if (dest.endpoints.every((e) => e.health !== undefined && e.health !== 'HEALTHY'))
      out.push('  none healthy (calls fail with WEFT_ERR_NO_HEALTHY_UPSTREAM, flag UH)');
    for (const e of dest.endpoints) {
      const labels = Object.entries(e.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      const health =
        e.health !== undefined && e.health !== 'HEALTHY'
          ? `${e.health} (discovery: takes no calls)`
          : e.ejected
            ? `EJECTED (${e.outlier?.ejections ?? 1} ejection${(e.outlier?.ejections ?? 1) === 1 ? '' : 's'})`
            : `healthy${e.outlier !== undefined && e.outlier.consecutive5xx > 0 ? ` (${e.outlier.consecutive5xx} consecutive 5xx)` : ''}`;
      out.push(
        `  ${e.address.padEnd(22)} ${health.padEnd(28)} weight ${e.weight}${e.locality ? `  ${e.locality}` : ''}${labels ? `  ${labels}` : ''}`,
      );
    }
    if (dest.pool !== undefined)
      out.push(`  connection pool: ${dest.pool.active} active, ${dest.pool.pending} waiting`);
    if (dest.breaker !== undefined) {
      const b = dest.breaker;
      out.push(
        `  circuit breaker: ${b.state}; window ${b.window.failures}/${b.window.calls} failed; opened ${b.opened}×, ${b.rejected} calls refused`,
      );
    }
  }
  out.push('', 'Calls from this workload:');
  if (d.calls === undefined) out.push('  none yet');
  else {
    const statuses = Object.entries(d.calls.statuses)
      .map(([s, n]) => `${s}: ${n}`)
      .join(', ');
    const errors = Object.entries(d.calls.errors)
      .map(([c, n]) => `${c}: ${n}`)
      .join(', ');
    out.push(`  ${d.calls.requests} requests; ${statuses || 'no answers'}${errors ? `; errors ${errors}` : ''}`);
    out.push(`  latency p50 ${d.calls.latencyMs.p50.toFixed(1)} ms, p99 ${d.calls.latencyMs.p99.toFixed(1)} ms`);
  }
  out.push('', 'Identity of this workload:');
  if (d.identity.identity === null) out.push('  none (security is off: calls are plaintext)');
  else {
    const hours = (d.identity.expiresInSeconds ?? 0) / 3600;
    out.push(`  ${d.identity.identity}, certificate valid until ${d.identity.notAfter} (${hours.toFixed(1)} h)`);
  }
  return `${out.join('\n')}\n`;
}
