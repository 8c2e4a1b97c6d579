// @weft/policy: weft's policy loader.

export { type AnalyzeOptions, analyze } from './analyze.js';
export { circuitBreaker, expandConcise, isConcise, type ServicePolicy, servicePolicy } from './concise.js';
export {
  issueToProblems,
  knownKeysAt,
  OPTION_CODES,
  POLICY_CODES,
  type ProblemCodes,
  type ProblemContext,
  pathText,
  show,
} from './problems.js';
export type {
  AuthorizationPolicy,
  DestinationRule,
  IstioResource,
  ObjectMeta,
  PeerAuthentication,
  PolicyObject,
  RequestAuthentication,
  ServiceEntry,
  VirtualService,
} from './resources.js';
export type { AuthorizationPolicySpec, AuthorizationRule } from './schema/authorization-policy.js';
export { BREAKER_ANNOTATION, type BreakerSettings, breakerAnnotation, breakerSettings } from './schema/breaker.js';
export type { DestinationRuleSpec, Subset, TrafficPolicy } from './schema/destination-rule.js';
export { findKind, KINDS } from './schema/kinds.js';
export { compileRe2, ipBlockProblem, type KindSchema, parseDurationMs, type Re2 } from './schema/kit.js';
export {
  OUTLIER_ANNOTATION,
  type OutlierEjectionSettings,
  outlierEjection,
} from './schema/outlier-ejection.js';
export type { PeerAuthenticationSpec } from './schema/peer-authentication.js';
export type { JWTRule, RequestAuthenticationSpec } from './schema/request-authentication.js';
export type { ServiceEntrySpec } from './schema/service-entry.js';
export type {
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRetry,
  HTTPRoute,
  HTTPRouteDestination,
  VirtualServiceSpec,
} from './schema/virtual-service.js';
export { RETRY_ON_CONDITIONS } from './schema/virtual-service.js';
export { type HostPolicy, PolicySnapshot, qualifyHost, type SnapshotOptions } from './snapshot.js';
export {
  listSources,
  type PolicyInput,
  type PolicySource,
  PolicyText,
  type ReadSource,
  readSources,
} from './source/load.js';
export { codeDocument, type ParseError, parseText, type SourceDocument } from './source/parse.js';
export { type Compiled, compileInput, PolicyStore, type PolicyStoreOptions } from './store.js';
export { suggest } from './suggest.js';
export { type Checked, checkDocument, duplicateProblems, type PolicyResource, pathsOf } from './validate.js';
