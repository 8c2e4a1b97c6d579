// AuthorizationPolicy resources compiled into predicates over a request's attributes, once per policy snapshot.
import type { AuthorizationPolicySpec, AuthorizationRule, PolicyResource } from '@weft/policy';
import { claimValues, headerValue, type RequestAttributes } from './attributes.js';
import { anyOf, ipMatcher, pathMatcher, type StringMatcher, stringMatcher } from './match.js';

export type Action = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

export interface CompiledPolicy {
  /** `namespace/name`, for logs and counters (never sent to the caller). */
  readonly name: string;
  readonly action: Action;
  /** CUSTOM's provider name. */
  readonly provider: string | undefined;
  /** True when a rule of the policy matches the request. */
  readonly matches: (a: RequestAttributes) => boolean;
}

type Check = (a: RequestAttributes) => boolean;

const ALWAYS: Check = () => true;
const NEVER: Check = () => false;

function field(
  matcher: StringMatcher | undefined,
  read: (a: RequestAttributes) => string | undefined,
): Check | undefined {
  return matcher === undefined ? undefined : (a) => matcher(read(a));
}

/** Every check of a list must pass; a list of none passes. */
function all(checks: (Check | undefined)[]): Check {
  const present = checks.filter((c): c is Check => c !== undefined);
  if (present.length === 0) return ALWAYS;
  if (present.length === 1) return present[0] as Check;
  return (a) => present.every((c) => c(a));
}

type Source = NonNullable<NonNullable<AuthorizationRule['from']>[number]['source']>;
type Operation = NonNullable<NonNullable<AuthorizationRule['to']>[number]['operation']>;

function sourceCheck(s: Source): Check {
  const ips = (blocks: readonly string[] | undefined) => (blocks === undefined ? undefined : ipMatcher(blocks));
  const ipField = (yes: readonly string[] | undefined, no: readonly string[] | undefined) => {
    const y = ips(yes);
    const n = ips(no);
    if (y === undefined && n === undefined) return undefined;
    return (v: string | undefined) => (y === undefined || y(v)) && !(n?.(v) ?? false);
  };
  return all([
    field(
      anyOf(s.principals, s.notPrincipals, (p) => stringMatcher(p)),
      (a) => a.principal,
    ),
    field(
      anyOf(s.requestPrincipals, s.notRequestPrincipals, (p) => stringMatcher(p)),
      (a) => a.requestPrincipal,
    ),
    field(
      anyOf(s.namespaces, s.notNamespaces, (p) => stringMatcher(p)),
      (a) => a.namespace,
    ),
    field(
      anyOf(s.serviceAccounts, s.notServiceAccounts, (p) => stringMatcher(p)),
      (a) => a.serviceAccount,
    ),
    field(ipField(s.ipBlocks, s.notIpBlocks), (a) => a.sourceIp),
    field(ipField(s.remoteIpBlocks, s.notRemoteIpBlocks), (a) => a.remoteIp),
  ]);
}

function operationCheck(o: Operation): Check {
  return all([
    field(
      anyOf(o.hosts, o.notHosts, (p) => stringMatcher(p, true)),
      (a) => a.host,
    ),
    field(
      anyOf(o.ports, o.notPorts, (p) => stringMatcher(p)),
      (a) => String(a.port),
    ),
    field(
      anyOf(o.methods, o.notMethods, (p) => stringMatcher(p)),
      (a) => a.method,
    ),
    field(anyOf(o.paths, o.notPaths, pathMatcher), (a) => a.path),
  ]);
}

const HEADER_KEY = /^request\.headers\[(.+)\]$/;
const CLAIM_KEY = /^request\.auth\.claims((?:\[[^\]]+\])+)$/;

/**
 * What a `when` condition's key reads, as a list of values (a JWT list claim has several; the
 * condition matches when any does). `undefined` for a key weft does not know; the policy loader
 * refuses those before they get here.
 */
export function conditionReader(key: string): ((a: RequestAttributes) => (string | undefined)[]) | undefined {
  const header = HEADER_KEY.exec(key)?.[1];
  if (header !== undefined) return (a) => [headerValue(a.headers, header)];
  const claim = CLAIM_KEY.exec(key)?.[1];
  if (claim !== undefined) {
    const path = claim.slice(1, -1).split('][');
    return (a) => claimValues(a.claims, path);
  }
  switch (key) {
    case 'source.ip':
      return (a) => [a.sourceIp];
    case 'remote.ip':
      return (a) => [a.remoteIp];
    case 'source.namespace':
      return (a) => [a.namespace];
    case 'source.principal':
      return (a) => [a.principal];
    case 'source.serviceAccount':
      return (a) => [a.serviceAccount];
    case 'request.auth.principal':
      return (a) => [a.requestPrincipal];
    case 'request.auth.audiences':
      return (a) => claimValues(a.claims, ['aud']);
    case 'request.auth.presenter':
      return (a) => claimValues(a.claims, ['azp']);
    case 'destination.ip':
      return (a) => [a.destinationIp];
    case 'destination.port':
      return (a) => [String(a.port)];
    case 'connection.sni':
      return (a) => [a.sni];
    default:
      return undefined;
  }
}

const IP_KEYS = new Set(['source.ip', 'remote.ip', 'destination.ip']);

function conditionCheck(c: { key: string; values?: string[] | undefined; notValues?: string[] | undefined }): Check {
  const read = conditionReader(c.key);
  // Unknown keys are refused by the loader; a hand-made snapshot that has one matches nothing.
  if (read === undefined) return NEVER;
  const make = IP_KEYS.has(c.key) ? (p: string) => ipMatcher([p]) : (p: string) => stringMatcher(p);
  const match = anyOf(c.values, c.notValues, make);
  if (match === undefined) return ALWAYS;
  const yes = c.values?.map(make);
  const no = c.notValues?.map(make);
  return (a) => {
    const values = read(a);
    if (yes !== undefined && !values.some((v) => yes.some((m) => m(v)))) return false;
    if (no !== undefined && values.some((v) => no.some((m) => m(v)))) return false;
    return true;
  };
}

function ruleCheck(rule: AuthorizationRule): Check {
  const from = rule.from?.map((f) => (f.source === undefined ? ALWAYS : sourceCheck(f.source)));
  const to = rule.to?.map((t) => (t.operation === undefined ? ALWAYS : operationCheck(t.operation)));
  const when = all((rule.when ?? []).map(conditionCheck));
  return (a) =>
    (from === undefined || from.length === 0 || from.some((c) => c(a))) &&
    (to === undefined || to.length === 0 || to.some((c) => c(a))) &&
    when(a);
}

/** One policy: it matches a request when any of its rules does; a policy without rules matches nothing. */
export function compilePolicy(resource: PolicyResource): CompiledPolicy {
  const spec = resource.spec as AuthorizationPolicySpec;
  const rules = (spec.rules ?? []).map(ruleCheck);
  return {
    name: `${resource.namespace}/${resource.name}`,
    action: spec.action ?? 'ALLOW',
    provider: spec.provider?.name,
    matches: rules.length === 0 ? NEVER : (a) => rules.some((r) => r(a)),
  };
}
