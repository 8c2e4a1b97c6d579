// PEM text and keys in the forms node:tls takes: certificates and PKCS#8 keys as PEM strings.
// @peculiar/x509 resolves its parts through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { cryptoProvider, X509Certificate } from '@peculiar/x509';

// @peculiar/x509 signs and verifies with the WebCrypto it is given: Node's own.
cryptoProvider.set(webcrypto as unknown as Parameters<typeof cryptoProvider.set>[0]);

export const subtle = webcrypto.subtle;

/** ECDSA P-256 with SHA-256: the curve Istio's CA uses by default for workload keys and weft for everything. */
export const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const EC_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

export function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return subtle.generateKey(EC_KEY, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
}

function pem(label: string, der: ArrayBuffer): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`), which node:tls reads. */
export async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await subtle.exportKey('pkcs8', key));
}

/** Imports a PKCS#8 PEM ECDSA P-256 private key for signing. */
export async function importPrivateKey(text: string): Promise<webcrypto.CryptoKey> {
  const body = text.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  return subtle.importKey('pkcs8', Buffer.from(body, 'base64'), EC_KEY, true, ['sign']);
}

/** Every certificate in a PEM text, in order. */
export function splitCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? [];
}

export function certificatePem(cert: X509Certificate): string {
  return cert.toString('pem').replace(/\r\n/g, '\n').replace(/\n?$/, '\n');
}

export function parseCertificate(text: string): X509Certificate {
  return new X509Certificate(text);
}
