// @weft/security: the certificate authority, workload keys and SPIFFE identities.
export {
  CA_DEFAULTS,
  CA_FILES,
  CertificateAuthority,
  type CreateCaOptions,
  type IssuedCertificate,
  type SignRequest,
} from './ca.js';
export {
  CA_SERVER_PATH,
  type CaServerOptions,
  type CaServerSourceOptions,
  caServerIdentity,
  caServerSource,
  type RunningCaServer,
  startCaServer,
} from './ca-server.js';
export { createWorkloadKey, requestedSpiffeId, type WorkloadKey } from './csr.js';
export { type CredentialFiles, fileSource } from './files.js';
export {
  type CredentialSource,
  type Credentials,
  IDENTITY_DEFAULTS,
  type IdentityOptions,
  localCaSource,
  WorkloadIdentity,
} from './identity.js';
export { type CertificateInfo, inspectCertificate, uriSans } from './inspect.js';
export { parseSpiffeId, SPIFFE_ID_EXPECTED, type SpiffeId, trustDomainProblem, workloadSpiffeId } from './spiffe.js';
