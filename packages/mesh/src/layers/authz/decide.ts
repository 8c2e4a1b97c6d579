// Istio's evaluation of the policies that apply to a workload: CUSTOM, then DENY, then ALLOW; AUDIT only marks.
import type { AuthorizationPolicySpec, PolicyResource, PolicySnapshot } from '@weft/policy';
import type { RequestAttributes } from './attributes.js';
import { type CompiledPolicy, compilePolicy } from './compile.js';

export interface Decision {
  readonly allowed: boolean;
  /** Why, for the log (never sent to the caller): the policy that decided, or the rule that applied. */
  readonly reason: string;
  /** `namespace/name` of the policy that decided, if one did. */
  readonly policy: string | undefined;
  /** AUDIT policies that matched: the request is to be logged as audited. */
  readonly audited: readonly string[];
}

/** The policies of one workload, by action, compiled once per snapshot. */
export interface WorkloadPolicies {
  readonly custom: readonly CompiledPolicy[];
  readonly deny: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly audit: readonly CompiledPolicy[];
}

export interface Workload {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Istio's root namespace: its policies without a selector apply to the whole mesh. Default `istio-system`. */
  readonly rootNamespace: string;
}

const NONE: readonly string[] = Object.freeze([]);

/** Does a policy in `resource`'s namespace with its selector apply to `workload`? */
function appliesTo(resource: PolicyResource, workload: Workload): boolean {
  if (resource.namespace !== workload.namespace && resource.namespace !== workload.rootNamespace) return false;
  const selector = (resource.spec as AuthorizationPolicySpec).selector?.matchLabels;
  if (selector === undefined) return true;
  for (const [key, value] of Object.entries(selector)) if (workload.labels[key] !== value) return false;
  return true;
}

/** The AuthorizationPolicies of `snapshot` that apply to `workload`, compiled. */
export function workloadPolicies(snapshot: PolicySnapshot, workload: Workload): WorkloadPolicies {
  const out = {
    custom: [] as CompiledPolicy[],
    deny: [] as CompiledPolicy[],
    allow: [] as CompiledPolicy[],
    audit: [] as CompiledPolicy[],
  };
  for (const resource of snapshot.ofKind('AuthorizationPolicy')) {
    if (!appliesTo(resource, workload)) continue;
    const policy = compilePolicy(resource);
    if (policy.action === 'CUSTOM') out.custom.push(policy);
    else if (policy.action === 'DENY') out.deny.push(policy);
    else if (policy.action === 'AUDIT') out.audit.push(policy);
    else out.allow.push(policy);
  }
  return out;
}

/**
 * The AuthorizationPolicies of `snapshot` for `workload` whose outcome an application that routes
 * paths case-insensitively (Express by default) could slip past: a DENY naming `paths` (`/ADMIN`
 * is not `/admin` to Istio's matcher, but is to such a router), or an ALLOW naming `notPaths`.
 * As `namespace/name`.
 */
export function caseSensitivePathRules(snapshot: PolicySnapshot, workload: Workload): string[] {
  const out: string[] = [];
  for (const resource of snapshot.ofKind('AuthorizationPolicy')) {
    if (!appliesTo(resource, workload)) continue;
    const spec = resource.spec as AuthorizationPolicySpec;
    const action = spec.action ?? 'ALLOW';
    const operations = (spec.rules ?? []).flatMap((r) => (r.to ?? []).map((t) => t.operation));
    const risky = operations.some((o) =>
      action === 'DENY' ? (o?.paths?.length ?? 0) > 0 : action === 'ALLOW' && (o?.notPaths?.length ?? 0) > 0,
    );
    if (risky) out.push(`${resource.namespace}/${resource.name}`);
  }
  return out;
}

/**
 * Istio's order. A matching CUSTOM policy denies: weft has no external authorizer to ask, and
 * failing open would let through what the policy meant to check. A matching DENY denies. With
 * no ALLOW policy the request is allowed; with some, one must match.
 */
export function decide(policies: WorkloadPolicies, a: RequestAttributes): Decision {
  let audited = NONE;
  if (policies.audit.length > 0) {
    const matched = policies.audit.filter((p) => p.matches(a)).map((p) => p.name);
    if (matched.length > 0) audited = matched;
  }
  for (const p of policies.custom) {
    if (p.matches(a)) {
      return {
        allowed: false,
        policy: p.name,
        audited,
        reason: `CUSTOM policy ${p.name} matched; weft cannot ask its provider "${p.provider ?? ''}", so it denies`,
      };
    }
  }
  for (const p of policies.deny) {
    if (p.matches(a)) return { allowed: false, policy: p.name, audited, reason: `DENY policy ${p.name} matched` };
  }
  if (policies.allow.length === 0)
    return { allowed: true, policy: undefined, audited, reason: 'no ALLOW policy applies to this workload' };
  for (const p of policies.allow) {
    if (p.matches(a)) return { allowed: true, policy: p.name, audited, reason: `ALLOW policy ${p.name} matched` };
  }
  return {
    allowed: false,
    policy: undefined,
    audited,
    reason: `no ALLOW policy matched (${policies.allow.map((p) => p.name).join(', ')} apply to this workload)`,
  };
}
