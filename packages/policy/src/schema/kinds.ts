// The table of resource kinds the loader reads, and the lookup by `apiVersion` and `kind`.
import { AuthorizationPolicy } from './authorization-policy.js';
import { DestinationRule } from './destination-rule.js';
import type { KindSchema } from './kit.js';
import { PeerAuthentication } from './peer-authentication.js';
import { RequestAuthentication } from './request-authentication.js';
import { ServiceEntry } from './service-entry.js';
import { VirtualService } from './virtual-service.js';

export const KINDS: readonly KindSchema[] = [
  VirtualService,
  DestinationRule,
  ServiceEntry,
  AuthorizationPolicy,
  PeerAuthentication,
  RequestAuthentication,
];

/** The kind for `apiVersion` (`group/version`) and `kind`, or `undefined` if weft does not read that pair. */
export function findKind(apiVersion: string, kind: string): KindSchema | undefined {
  const slash = apiVersion.indexOf('/');
  if (slash < 0) return undefined;
  const group = apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  return KINDS.find((k) => k.group === group && k.kind === kind && k.versions.includes(version));
}
