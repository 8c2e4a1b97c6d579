// Certificates of the web kind (DNS names, no SPIFFE IDs) from a CA made for one test: what an outside HTTPS service presents.
// @peculiar/x509 needs the Reflect metadata API first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from '@peculiar/x509';

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface KeyPair {
  /** PEM */
  readonly cert: string;
  /** PKCS#8 PEM */
  readonly key: string;
}

export interface TestCa {
  /** The CA certificate, PEM: what a client trusts. */
  readonly certPem: string;
  /** A leaf certificate for `dnsNames` (server and client use). */
  issue(dnsNames: string[]): Promise<KeyPair>;
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key)).toString('base64');
  return `-----BEGIN PRIVATE KEY-----\n${der.replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`;
}

let serial = 1;

export async function startTestCa(name: string): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const now = Date.now();
  const ca = await X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    name: `CN=${name}`,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + DAY),
    keys,
    signingAlgorithm: EC,
    extensions: [
      new BasicConstraintsExtension(true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
    ],
  });
  return {
    certPem: ca.toString('pem'),
    async issue(dnsNames) {
      const leaf = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
      const cert = await X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16).padStart(2, '0'),
        subject: `CN=${dnsNames[0]}`,
        issuer: ca.subject,
        notBefore: new Date(now - DAY),
        notAfter: new Date(now + DAY),
        signingAlgorithm: EC,
        publicKey: leaf.publicKey,
        signingKey: keys.privateKey,
        extensions: [
          new BasicConstraintsExtension(false, undefined, true),
          new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
          new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth]),
          new SubjectAlternativeNameExtension(
            dnsNames.map((value) => ({ type: 'dns' as const, value })),
            false,
          ),
        ],
      });
      return { cert: cert.toString('pem'), key: await pkcs8Pem(leaf.privateKey) };
    },
  };
}
