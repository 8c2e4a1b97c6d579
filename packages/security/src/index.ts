// @weft/security: the certificate authority, workload keys and SPIFFE identities.
export {
  CA_DEFAULTS,
  CA_FILES,
  CertificateAuthority,
  type CreateCaOptions,
  type IssuedCertificate,
  type SignRequest,
} from './ca.js';
export { createWorkloadKey, type WorkloadKey } from './csr.js';
export { type CertificateInfo, inspectCertificate } from './inspect.js';
export { parseSpiffeId, SPIFFE_ID_EXPECTED, type SpiffeId, trustDomainProblem, workloadSpiffeId } from './spiffe.js';
