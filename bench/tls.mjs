// Certificates for the bare side of the mTLS pair, from the run's CA (the same one weft's meshes load).
import { CertificateAuthority, createWorkloadKey } from '@weft/security';

/** Key, certificate chain and roots for `spiffe://cluster.local/ns/default/sa/<name>`. */
export async function benchCredentials(name) {
  const ca = await CertificateAuthority.load(process.env.WEFT_CA_DIR);
  const id = `spiffe://cluster.local/ns/default/sa/${name}`;
  const key = await createWorkloadKey(id);
  const issued = await ca.sign({ csrPem: key.csrPem, spiffeId: id });
  return { key: key.privateKeyPem, cert: issued.chainPem, ca: issued.rootsPem };
}
