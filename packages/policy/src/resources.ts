// TypeScript types of every resource weft reads, so an editor completes and checks policy written in code.
import type { ServicePolicy } from './concise.js';
import type { AuthorizationPolicySpec } from './schema/authorization-policy.js';
import type { DestinationRuleSpec } from './schema/destination-rule.js';
import type { PeerAuthenticationSpec } from './schema/peer-authentication.js';
import type { RequestAuthenticationSpec } from './schema/request-authentication.js';
import type { ServiceEntrySpec } from './schema/service-entry.js';
import type { VirtualServiceSpec } from './schema/virtual-service.js';

export interface ObjectMeta {
  name: string;
  /** Default: the workload's namespace. */
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

type Networking = 'networking.istio.io/v1' | 'networking.istio.io/v1beta1' | 'networking.istio.io/v1alpha3';
type Security = 'security.istio.io/v1' | 'security.istio.io/v1beta1';

interface Resource<A extends string, K extends string, S> {
  apiVersion: A;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
}

export type VirtualService = Resource<Networking, 'VirtualService', VirtualServiceSpec>;
export type DestinationRule = Resource<Networking, 'DestinationRule', DestinationRuleSpec>;
export type ServiceEntry = Resource<Networking, 'ServiceEntry', ServiceEntrySpec>;
export type AuthorizationPolicy = Resource<Security, 'AuthorizationPolicy', AuthorizationPolicySpec>;
export type PeerAuthentication = Resource<Security, 'PeerAuthentication', PeerAuthenticationSpec>;
export type RequestAuthentication = Resource<Security, 'RequestAuthentication', RequestAuthenticationSpec>;

/** Any resource weft reads, in Istio's form. */
export type IstioResource =
  | VirtualService
  | DestinationRule
  | ServiceEntry
  | AuthorizationPolicy
  | PeerAuthentication
  | RequestAuthentication;

/** A policy object given in code: an Istio resource or weft's concise form. */
export type PolicyObject = IstioResource | ServicePolicy;
