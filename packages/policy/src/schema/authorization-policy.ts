// The AuthorizationPolicy kind (security.istio.io): who may call a workload, evaluated CUSTOM, then DENY, then ALLOW.
import { z } from 'zod';
import { policyTargetReference } from './common.js';
import { type KindSchema, oneOf, params, workloadSelector } from './kit.js';

const strings = z.array(z.string()).optional();

/** `Source`: fields AND, list entries OR; every field has a `not*` twin. */
export const source = z.strictObject({
  principals: strings,
  notPrincipals: strings,
  requestPrincipals: strings,
  notRequestPrincipals: strings,
  namespaces: strings,
  notNamespaces: strings,
  serviceAccounts: strings,
  notServiceAccounts: strings,
  ipBlocks: strings,
  notIpBlocks: strings,
  remoteIpBlocks: strings,
  notRemoteIpBlocks: strings,
});

/** `Operation`. `ports` are strings in Istio's proto. */
export const operation = z.strictObject({
  hosts: strings,
  notHosts: strings,
  ports: strings,
  notPorts: strings,
  methods: strings,
  notMethods: strings,
  paths: strings,
  notPaths: strings,
});

/** `Condition`: `key` is an Istio attribute such as `request.headers[x-token]` or `source.ip`. */
export const condition = z.strictObject({
  key: z.string(),
  values: strings,
  notValues: strings,
});

/** `Rule`: matches when one `from`, one `to` and every `when` match. `{}` matches everything. */
export const rule = z.strictObject({
  from: z.array(z.strictObject({ source: source.optional() })).optional(),
  to: z.array(z.strictObject({ operation: operation.optional() })).optional(),
  when: z.array(condition).optional(),
});

/** The `spec` of an AuthorizationPolicy. `selector`, `targetRef` and `targetRefs` exclude each other; `provider` goes with `CUSTOM`. */
export const authorizationPolicySpec = oneOf(
  z.strictObject({
    selector: workloadSelector.optional(),
    targetRef: policyTargetReference.optional(),
    targetRefs: z.array(policyTargetReference).optional(),
    rules: z.array(rule).optional(),
    action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).optional(),
    provider: z.strictObject({ name: z.string().optional() }).optional(),
  }),
  ['selector', 'targetRef', 'targetRefs'],
  false,
).superRefine((spec, ctx) => {
  if (spec.action === 'CUSTOM' && spec.provider === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['provider'],
      message: 'a CUSTOM policy names its provider',
      ...params('WEFT_ERR_POLICY_FIELD_REQUIRED', '"provider: { name }" with "action: CUSTOM"'),
    });
  } else if (spec.action !== 'CUSTOM' && spec.provider !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['provider'],
      message: '"provider" is only used with "action: CUSTOM"',
      ...params('WEFT_ERR_POLICY_VALUE', '"action: CUSTOM" with a provider, or no provider'),
    });
  }
});

export type AuthorizationPolicySpec = z.infer<typeof authorizationPolicySpec>;
export type AuthorizationRule = z.infer<typeof rule>;

export const AuthorizationPolicy: KindSchema = {
  group: 'security.istio.io',
  kind: 'AuthorizationPolicy',
  versions: ['v1', 'v1beta1'],
  spec: authorizationPolicySpec,
  // '' : weft does not enforce this kind at all yet (issue 6); the field paths below stay for then.
  unimplemented: [
    '',
    'selector',
    'targetRef',
    'targetRefs',
    'action',
    'provider',
    'rules[].from',
    'rules[].to',
    'rules[].when',
  ],
};
