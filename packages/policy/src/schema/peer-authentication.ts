// The PeerAuthentication kind (security.istio.io): whether a workload accepts mutual TLS, plaintext or both.
import { z } from 'zod';
import { type KindSchema, params, workloadSelector } from './kit.js';

export const mutualTls = z.strictObject({
  mode: z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']).optional(),
});

function isPortKey(key: string): boolean {
  return /^\d+$/.test(key) && Number(key) >= 1 && Number(key) <= 65535;
}

/** `portLevelMtls`: keys are port numbers (strings in YAML and JSON). Checked here so the issue sits on the key. */
const portLevelMtls = z.record(z.string(), mutualTls).superRefine((record, ctx) => {
  for (const key of Object.keys(record)) {
    if (!isPortKey(key)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `"${key}" is not a port number`,
        ...params('WEFT_ERR_POLICY_VALUE', 'a port number from 1 to 65535'),
      });
    }
  }
});

/** The `spec` of a PeerAuthentication. `portLevelMtls` only applies with a `selector`, as Istio requires. */
export const peerAuthenticationSpec = z
  .strictObject({
    selector: workloadSelector.optional(),
    mtls: mutualTls.optional(),
    portLevelMtls: portLevelMtls.optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.portLevelMtls !== undefined && Object.keys(spec.portLevelMtls).length > 0 && spec.selector === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['portLevelMtls'],
        message: '"portLevelMtls" needs a "selector"',
        ...params('WEFT_ERR_POLICY_FIELD_REQUIRED', 'a "selector" with "matchLabels" next to "portLevelMtls"'),
      });
    }
  });

export type PeerAuthenticationSpec = z.infer<typeof peerAuthenticationSpec>;

export const PeerAuthentication: KindSchema = {
  group: 'security.istio.io',
  kind: 'PeerAuthentication',
  versions: ['v1', 'v1beta1'],
  spec: peerAuthenticationSpec,
  // Enforced by the mesh's serving front when the mesh has mTLS on (`security` option).
  unimplemented: [],
};
