// The compiled policy: one immutable, versioned snapshot, indexed so a lookup costs the same with 10 or 10,000 resources.
import type { ConfigProblem } from '@weft/core';
import type { PolicyResource } from './validate.js';

/** Everything the policy says about one destination host. */
export interface HostPolicy {
  /** Fully qualified host, or a wildcard (`*.example.com`) as written. */
  readonly host: string;
  /** VirtualServices routing this host, in the order their sources were given. */
  readonly virtualServices: readonly PolicyResource[];
  /** DestinationRules for this host; more than one is flagged by analysis, the first applies. */
  readonly destinationRules: readonly PolicyResource[];
}

export interface SnapshotOptions {
  namespace: string;
  clusterDomain: string;
}

/**
 * A host as Istio reads it in a resource of `namespace`: a name without dots is short for
 * `name.namespace.svc.<clusterDomain>`; any other name is taken as written (so write
 * `reviews.prod.svc.cluster.local`, not `reviews.prod`, as Istio asks too).
 */
export function qualifyHost(host: string, namespace: string, clusterDomain: string): string {
  const lower = host.toLowerCase();
  return lower.includes('.') || lower.includes('*') ? lower : `${lower}.${namespace}.svc.${clusterDomain}`;
}

function hostsOf(r: PolicyResource): string[] {
  const spec = r.spec as { hosts?: string[]; host?: string };
  if (r.kind === 'VirtualService' || r.kind === 'ServiceEntry') return spec.hosts ?? [];
  if (r.kind === 'DestinationRule') return spec.host === undefined ? [] : [spec.host];
  return [];
}

export class PolicySnapshot {
  /** Grows by one with each snapshot a store accepts; 0 for the empty policy. */
  readonly version: number;
  /** Where the resources came from, in order. */
  readonly sources: readonly string[];
  readonly resources: readonly PolicyResource[];
  /** Warnings of the load that made this snapshot. */
  readonly warnings: readonly ConfigProblem[];
  /** What analysis across resources found (docs/policy.md); advisory, each with its own severity. */
  readonly findings: readonly ConfigProblem[];
  readonly #byHost = new Map<string, HostPolicy>();
  /** Wildcard hosts, longest suffix first. */
  readonly #wildcards: { suffix: string; policy: HostPolicy }[] = [];
  readonly #byKind = new Map<string, PolicyResource[]>();

  constructor(
    version: number,
    sources: readonly string[],
    resources: readonly PolicyResource[],
    warnings: readonly ConfigProblem[],
    options: SnapshotOptions,
    findings: readonly ConfigProblem[] = [],
  ) {
    this.version = version;
    this.sources = Object.freeze([...sources]);
    this.resources = Object.freeze([...resources]);
    this.warnings = Object.freeze([...warnings]);
    this.findings = Object.freeze([...findings]);
    const building = new Map<
      string,
      { host: string; virtualServices: PolicyResource[]; destinationRules: PolicyResource[] }
    >();
    for (const r of resources) {
      const list = this.#byKind.get(r.kind);
      if (list === undefined) this.#byKind.set(r.kind, [r]);
      else list.push(r);
      if (r.kind !== 'VirtualService' && r.kind !== 'DestinationRule') continue;
      for (const h of hostsOf(r)) {
        const host = qualifyHost(h, r.namespace, options.clusterDomain);
        let entry = building.get(host);
        if (entry === undefined) {
          entry = { host, virtualServices: [], destinationRules: [] };
          building.set(host, entry);
        }
        (r.kind === 'VirtualService' ? entry.virtualServices : entry.destinationRules).push(r);
      }
    }
    for (const [host, entry] of building) {
      const policy: HostPolicy = Object.freeze({
        host,
        virtualServices: Object.freeze(entry.virtualServices),
        destinationRules: Object.freeze(entry.destinationRules),
      });
      if (host.startsWith('*')) this.#wildcards.push({ suffix: host.slice(1), policy });
      else this.#byHost.set(host, policy);
    }
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    Object.freeze(this);
  }

  /** The policy for a fully qualified host: an exact host first, else the most specific wildcard. */
  forHost(host: string): HostPolicy | undefined {
    const exact = this.#byHost.get(host);
    if (exact !== undefined || this.#wildcards.length === 0) return exact;
    for (const w of this.#wildcards) if (host.endsWith(w.suffix) || w.suffix === '') return w.policy;
    return undefined;
  }

  /** Every resource of one kind, in source order. */
  ofKind(kind: string): readonly PolicyResource[] {
    return this.#byKind.get(kind) ?? [];
  }

  /** The snapshot in a form fit to print (and the basis of a config dump). */
  toJSON(): {
    version: number;
    sources: readonly string[];
    resources: object[];
    warnings: readonly ConfigProblem[];
    findings: readonly ConfigProblem[];
  } {
    return {
      version: this.version,
      sources: this.sources,
      resources: this.resources.map((r) => ({
        apiVersion: r.apiVersion,
        kind: r.kind,
        metadata: {
          name: r.name,
          namespace: r.namespace,
          ...(Object.keys(r.labels).length > 0 ? { labels: r.labels } : {}),
        },
        spec: r.spec,
        origin: r.origin,
      })),
      warnings: this.warnings,
      findings: this.findings,
    };
  }
}
