// The RequestAuthentication kind (security.istio.io): which JWTs a workload verifies. Requests without a token still pass.
import { z } from 'zod';
import { policyTargetReference } from './common.js';
import { duration, type KindSchema, oneOf, workloadSelector } from './kit.js';

/** `JWTRule`. The CRD accepts the JWKS address as `jwksUri` or `jwks_uri`; either one, or inline `jwks`. */
export const jwtRule = oneOf(
  z.strictObject({
    issuer: z.string(),
    audiences: z.array(z.string()).optional(),
    jwksUri: z.string().optional(),
    jwks_uri: z.string().optional(),
    jwks: z.string().optional(),
    fromHeaders: z.array(z.strictObject({ name: z.string(), prefix: z.string().optional() })).optional(),
    fromParams: z.array(z.string()).optional(),
    outputPayloadToHeader: z.string().optional(),
    fromCookies: z.array(z.string()).optional(),
    forwardOriginalToken: z.boolean().optional(),
    outputClaimToHeaders: z
      .array(z.strictObject({ header: z.string().optional(), claim: z.string().optional() }))
      .optional(),
    timeout: duration().optional(),
    presence: z.enum(['OPTIONAL', 'REQUIRED']).optional(),
  }),
  ['jwksUri', 'jwks_uri', 'jwks'],
  false,
);

/** The `spec` of a RequestAuthentication. `selector`, `targetRef` and `targetRefs` exclude each other. */
export const requestAuthenticationSpec = oneOf(
  z.strictObject({
    selector: workloadSelector.optional(),
    targetRef: policyTargetReference.optional(),
    targetRefs: z.array(policyTargetReference).optional(),
    jwtRules: z.array(jwtRule).optional(),
  }),
  ['selector', 'targetRef', 'targetRefs'],
  false,
);

export type RequestAuthenticationSpec = z.infer<typeof requestAuthenticationSpec>;
export type JWTRule = z.infer<typeof jwtRule>;

export const RequestAuthentication: KindSchema = {
  group: 'security.istio.io',
  kind: 'RequestAuthentication',
  versions: ['v1', 'v1beta1'],
  spec: requestAuthenticationSpec,
  // Enforced by the mesh's request-authentication layer (jose). Not read: Gateway API attachment,
  // the fetch timeout of a remote key set, and `presence` (Envoy's per-provider requirement; use an
  // AuthorizationPolicy on requestPrincipals, as Istio documents).
  unimplemented: ['targetRef', 'targetRefs', 'jwtRules[].timeout', 'jwtRules[].presence'],
};
