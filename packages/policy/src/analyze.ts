// Cross-resource analysis, as istioctl analyze does it: what each resource is fine alone but wrong together.
import type { ConfigProblem, WeftErrorCode } from '@weft/core';
import { pathText } from './problems.js';
import { qualifyHost } from './snapshot.js';
import type { PolicyResource } from './validate.js';

export interface AnalyzeOptions {
  namespace: string;
  clusterDomain: string;
  /** Hosts discovery knows (fully qualified or short); without it, unknown hosts are not reported. */
  knownHosts?: readonly string[];
  /** Labels of the known workloads; without it, selectors are not checked. */
  workloads?: readonly Record<string, string>[];
}

interface Destination {
  host?: string;
  subset?: string;
}
interface HttpMatch {
  [field: string]: unknown;
}
interface HttpRoute {
  match?: HttpMatch[];
  route?: { destination?: Destination }[];
}
interface VirtualServiceSpec {
  hosts?: string[];
  http?: HttpRoute[];
  tcp?: { route?: { destination?: Destination }[] }[];
  tls?: { route?: { destination?: Destination }[] }[];
}

function finding(
  r: PolicyResource,
  path: readonly PropertyKey[],
  code: WeftErrorCode,
  severity: 'error' | 'warning',
  message: string,
  expected?: string,
): ConfigProblem {
  const p: ConfigProblem = {
    code,
    source: r.locate(path),
    path: pathText(path),
    resource: `${r.kind} ${r.namespace}/${r.name}`,
    message,
    severity,
  };
  if (expected !== undefined) p.expected = expected;
  return p;
}

/** A match that every request meets: nothing set but, at most, its name or `uri: { prefix: '/' }`. */
function matchesEverything(match: HttpMatch): boolean {
  for (const [field, value] of Object.entries(match)) {
    if (value === undefined || field === 'name' || field === 'statPrefix' || field === 'ignoreUriCase') continue;
    if (field === 'uri' && (value as { prefix?: string }).prefix === '/' && Object.keys(value as object).length === 1)
      continue;
    return false;
  }
  return true;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Every finding across the resources; each has a code and a severity. */
export function analyze(resources: readonly PolicyResource[], options: AnalyzeOptions): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const q = (host: string, r: PolicyResource) => qualifyHost(host, r.namespace, options.clusterDomain);

  // Subsets defined per host, and DestinationRules per (namespace, host).
  const subsets = new Map<string, Set<string>>();
  const rulesByHost = new Map<string, PolicyResource[]>();
  const entryHosts: string[] = [];
  for (const r of resources) {
    if (r.kind === 'DestinationRule') {
      const spec = r.spec as { host: string; subsets?: { name: string }[]; workloadSelector?: unknown };
      const host = q(spec.host, r);
      const names = subsets.get(host) ?? new Set<string>();
      for (const s of spec.subsets ?? []) names.add(s.name);
      subsets.set(host, names);
      if (spec.workloadSelector === undefined) {
        const key = `${r.namespace} ${host}`;
        rulesByHost.set(key, [...(rulesByHost.get(key) ?? []), r]);
      }
    } else if (r.kind === 'ServiceEntry') {
      for (const h of (r.spec as { hosts?: string[] }).hosts ?? []) entryHosts.push(q(h, r));
    }
  }
  for (const rules of rulesByHost.values()) {
    for (const r of rules.slice(1)) {
      out.push(
        finding(
          r,
          ['spec', 'host'],
          'WEFT_ANALYZE_DESTINATION_RULE_CONFLICT',
          'warning',
          `another DestinationRule (${rules[0]?.name}) already applies to this host in namespace ${r.namespace}; which one wins is undefined`,
        ),
      );
    }
  }

  const known =
    options.knownHosts === undefined
      ? undefined
      : new Set(options.knownHosts.map((h) => qualifyHost(h, options.namespace, options.clusterDomain)));
  const isKnown = (host: string): boolean =>
    known === undefined ||
    known.has(host) ||
    entryHosts.some((e) => e === host || (e.startsWith('*') && host.endsWith(e.slice(1))));

  const vsByHost = new Map<string, PolicyResource>();
  for (const r of resources) {
    if (r.kind !== 'VirtualService') continue;
    const spec = r.spec as VirtualServiceSpec;
    (spec.hosts ?? []).forEach((h, i) => {
      const host = q(h, r);
      const first = vsByHost.get(host);
      if (first === undefined) vsByHost.set(host, r);
      else {
        out.push(
          finding(
            r,
            ['spec', 'hosts', i],
            'WEFT_ANALYZE_VIRTUAL_SERVICE_CONFLICT',
            'warning',
            `VirtualService ${first.namespace}/${first.name} also routes ${host}; Istio leaves which routes apply undefined`,
          ),
        );
      }
    });
    // Routes after one that matches everything can never match.
    const http = spec.http ?? [];
    const catchAll = http.findIndex(
      (route) => route.match === undefined || route.match.length === 0 || route.match.some(matchesEverything),
    );
    for (let i = catchAll + 1; catchAll >= 0 && i < http.length; i++) {
      out.push(
        finding(
          r,
          ['spec', 'http', i],
          'WEFT_ANALYZE_ROUTE_UNREACHABLE',
          'warning',
          `this route can never match: route ${catchAll} matches every request`,
          'the catch-all route last',
        ),
      );
    }
    for (const section of ['http', 'tcp', 'tls'] as const) {
      (spec[section] ?? []).forEach((route, i) => {
        (route.route ?? []).forEach((d, j) => {
          const destination = d.destination;
          if (destination?.host === undefined) return;
          const host = q(destination.host, r);
          const path = ['spec', section, i, 'route', j, 'destination'];
          if (!isKnown(host)) {
            out.push(
              finding(
                r,
                [...path, 'host'],
                'WEFT_ANALYZE_HOST_UNKNOWN',
                'warning',
                `no discovery source or ServiceEntry knows ${host}`,
              ),
            );
          }
          if (destination.subset !== undefined && !subsets.get(host)?.has(destination.subset)) {
            const defined = [...(subsets.get(host) ?? [])];
            out.push(
              finding(
                r,
                [...path, 'subset'],
                'WEFT_ANALYZE_SUBSET_UNKNOWN',
                'error',
                `no DestinationRule for ${host} defines subset "${destination.subset}"`,
                defined.length === 0
                  ? `a DestinationRule for ${host} with this subset`
                  : `one of ${defined.map((s) => `"${s}"`).join(', ')}`,
              ),
            );
          }
        });
      });
    }
  }

  if (options.workloads !== undefined) {
    for (const r of resources) {
      const spec = r.spec as {
        selector?: { matchLabels?: Record<string, string> };
        workloadSelector?: { matchLabels?: Record<string, string> };
      };
      const field =
        spec.selector !== undefined ? 'selector' : spec.workloadSelector !== undefined ? 'workloadSelector' : undefined;
      const labels = field === undefined ? undefined : (spec[field as 'selector']?.matchLabels ?? {});
      if (field === undefined || labels === undefined || Object.keys(labels).length === 0) continue;
      if (!options.workloads.some((w) => selects(labels, w))) {
        out.push(
          finding(
            r,
            ['spec', field],
            'WEFT_ANALYZE_SELECTOR_NO_MATCH',
            'warning',
            `the selector ${JSON.stringify(labels)} matches no known workload`,
          ),
        );
      }
    }
  }
  return out;
}
