// The AuthorizationPolicy kind (security.istio.io): who may call a workload, evaluated CUSTOM, then DENY, then ALLOW.
import { z } from 'zod';
import { policyTargetReference } from './common.js';
import {
  IP_BLOCK_EXPECTED,
  ipBlockProblem,
  ipBlocks,
  type KindSchema,
  oneOf,
  params,
  workloadSelector,
} from './kit.js';

const strings = z.array(z.string()).optional();

/** `Source`: fields AND, list entries OR; every field has a `not*` twin. */
export const source = z
  .strictObject({
    principals: strings,
    notPrincipals: strings,
    requestPrincipals: strings,
    notRequestPrincipals: strings,
    namespaces: strings,
    notNamespaces: strings,
    serviceAccounts: strings,
    notServiceAccounts: strings,
    ipBlocks: ipBlocks.optional(),
    notIpBlocks: ipBlocks.optional(),
    remoteIpBlocks: ipBlocks.optional(),
    notRemoteIpBlocks: ipBlocks.optional(),
  })
  .superRefine((s, ctx) => {
    // Istio's principals are SPIFFE IDs without their scheme: "spiffe://" never matches.
    for (const key of ['principals', 'notPrincipals'] as const) {
      s[key]?.forEach((p, i) => {
        if (p.startsWith('spiffe://')) {
          ctx.addIssue({
            code: 'custom',
            path: [key, i],
            message: 'a principal is written without "spiffe://"; this one can never match',
            ...params('WEFT_ERR_POLICY_VALUE', `"${p.slice('spiffe://'.length)}"`),
          });
        }
      });
    }
  });

const portString = z.string().refine((p) => /^\d+$/.test(p) && Number(p) >= 1 && Number(p) <= 65535, {
  message: 'not a port number',
  ...params('WEFT_ERR_POLICY_VALUE', 'a port number from 1 to 65535, as a string ("8080")'),
});

/** A `paths` entry: Istio's string forms, or a template whose `{**}` may only be the last segment. */
const pathPattern = z.string().superRefine((p, ctx) => {
  const segments = p.split('/');
  const at = segments.indexOf('{**}');
  if (at !== -1 && at !== segments.length - 1) {
    ctx.addIssue({
      code: 'custom',
      message: '"{**}" may only be the last segment of a path template',
      ...params('WEFT_ERR_POLICY_VALUE', 'a path such as "/books/{*}/reviews" or "/books/{**}"'),
    });
  } else if (p.includes('{') && segments.some((s) => s.includes('{') && s !== '{*}' && s !== '{**}')) {
    ctx.addIssue({
      code: 'custom',
      message: 'a template operator is a whole segment: "{*}" or "{**}"',
      ...params('WEFT_ERR_POLICY_VALUE', 'segments "{*}" (one segment) and a final "{**}" (the rest)'),
    });
  }
});

/** `Operation`. `ports` are strings in Istio's proto. */
export const operation = z.strictObject({
  hosts: strings,
  notHosts: strings,
  ports: z.array(portString).optional(),
  notPorts: z.array(portString).optional(),
  methods: strings,
  notMethods: strings,
  paths: z.array(pathPattern).optional(),
  notPaths: z.array(pathPattern).optional(),
});

/** The attribute keys a `when` condition may read (Istio's, less the experimental Envoy filter ones). */
export const CONDITION_KEYS = [
  'request.headers[<name>]',
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.principal',
  'source.serviceAccount',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'request.auth.claims[<name>]',
  'destination.ip',
  'destination.port',
  'connection.sni',
] as const;

const FIXED_KEYS = new Set<string>(CONDITION_KEYS.filter((k) => !k.includes('<')));
const IP_KEYS = new Set(['source.ip', 'remote.ip', 'destination.ip']);

function isConditionKey(key: string): boolean {
  return (
    FIXED_KEYS.has(key) || /^request\.headers\[[^\]]+\]$/.test(key) || /^request\.auth\.claims(\[[^\]]+\])+$/.test(key)
  );
}

/** `Condition`: `key` is an Istio attribute such as `request.headers[x-token]` or `source.ip`. */
export const condition = z
  .strictObject({
    key: z.string().refine(isConditionKey, {
      message: 'not an attribute weft can read',
      ...params('WEFT_ERR_POLICY_VALUE', `one of ${CONDITION_KEYS.join(', ')}`),
    }),
    values: strings,
    notValues: strings,
  })
  .superRefine((c, ctx) => {
    if (!IP_KEYS.has(c.key)) return;
    for (const field of ['values', 'notValues'] as const) {
      c[field]?.forEach((v, i) => {
        const problem = ipBlockProblem(v);
        if (problem !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [field, i],
            message: problem,
            ...params('WEFT_ERR_POLICY_VALUE', IP_BLOCK_EXPECTED),
          });
        }
      });
    }
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
  // Enforced by the mesh's authorization layer. Gateway API attachment is not read; a CUSTOM
  // policy's provider is never called (weft denies what such a policy matches: docs/security.md).
  unimplemented: ['targetRef', 'targetRefs', 'provider'],
};
