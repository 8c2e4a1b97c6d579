// The workload's side of issuance: a key made here, and a CSR for it that asks for the workload's SPIFFE ID.
// Loaded before @peculiar/x509, whose dependency injection (tsyringe) needs the Reflect metadata API.
import 'reflect-metadata';
import {
  Pkcs10CertificateRequest,
  Pkcs10CertificateRequestGenerator,
  SubjectAlternativeNameExtension,
} from '@peculiar/x509';
import { EC_SIGN, generateKeyPair, privateKeyPem } from './pem.js';
import { parseSpiffeId } from './spiffe.js';

export interface WorkloadKey {
  /** PKCS#8 PEM; never leaves the process unless the application writes it somewhere. */
  readonly privateKeyPem: string;
  /** The CSR to send to a CA, asking for `spiffeId`. */
  readonly csrPem: string;
}

/** A new ECDSA P-256 key and a CSR for it with `spiffeId` as its URI SAN. */
export async function createWorkloadKey(spiffeId: string): Promise<WorkloadKey> {
  const id = parseSpiffeId(spiffeId);
  const keys = await generateKeyPair();
  const csr = await Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: EC_SIGN,
    extensions: [new SubjectAlternativeNameExtension([{ type: 'url', value: id.uri }], true)],
  });
  return { privateKeyPem: await privateKeyPem(keys.privateKey), csrPem: csr.toString('pem') };
}

const SUBJECT_ALT_NAME = '2.5.29.17';

/** The SPIFFE ID a CSR asks for (its first spiffe:// URI SAN), or `undefined`; throws when the text is not a CSR. */
export function requestedSpiffeId(csrPem: string): string | undefined {
  const csr = new Pkcs10CertificateRequest(csrPem);
  const extension = csr.extensions.find((e) => e.type === SUBJECT_ALT_NAME);
  if (extension === undefined) return undefined;
  const san =
    extension instanceof SubjectAlternativeNameExtension
      ? extension
      : new SubjectAlternativeNameExtension(extension.rawData);
  return san.names.items.find((n) => n.type === 'url' && n.value.startsWith('spiffe://'))?.value;
}
