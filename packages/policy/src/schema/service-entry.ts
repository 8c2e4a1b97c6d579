// The ServiceEntry kind (networking.istio.io): services added to the registry by hand, typically external hosts.
import { z } from 'zod';
import { exportTo, networkingWorkloadSelector } from './common.js';
import { host, type KindSchema, labels, oneOf, port, uint32 } from './kit.js';

/** `ServicePort`. `protocol` is one of Istio's protocol names (HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS, …), any case. */
export const servicePort = z.strictObject({
  number: port,
  protocol: z.string().optional(),
  name: z.string(),
  targetPort: port.optional(),
});

/** `WorkloadEntry` as an inline endpoint of a ServiceEntry. */
export const workloadEntry = z.strictObject({
  address: z.string().optional(),
  ports: z.record(z.string(), port).optional(),
  labels: labels.optional(),
  network: z.string().optional(),
  locality: z.string().optional(),
  weight: uint32.optional(),
  serviceAccount: z.string().optional(),
});

/** The `spec` of a ServiceEntry: `endpoints` and `workloadSelector` exclude each other. */
export const serviceEntrySpec = oneOf(
  z.strictObject({
    hosts: z.array(host).min(1),
    addresses: z.array(z.string()).optional(),
    ports: z.array(servicePort).optional(),
    location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).optional(),
    resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']).optional(),
    endpoints: z.array(workloadEntry).optional(),
    workloadSelector: networkingWorkloadSelector.optional(),
    exportTo: exportTo.optional(),
    subjectAltNames: z.array(z.string()).optional(),
  }),
  ['endpoints', 'workloadSelector'],
  false,
);

export type ServiceEntrySpec = z.infer<typeof serviceEntrySpec>;

export const ServiceEntry: KindSchema = {
  group: 'networking.istio.io',
  kind: 'ServiceEntry',
  versions: ['v1', 'v1beta1', 'v1alpha3'],
  spec: serviceEntrySpec,
  // Entries with endpoints feed the mesh's registry (STATIC addresses; DNS names, resolved when
  // connecting), MESH_EXTERNAL ones without mTLS; entries without (NONE, DNS) declare outside
  // hosts that go out as written, also under REGISTRY_ONLY: what they amount to in process.
  unimplemented: ['addresses', 'workloadSelector', 'exportTo', 'subjectAltNames'],
};
