// A certificate as a person reads it: who it names, who signed it, when it is valid, what it may do.
import { X509Certificate } from 'node:crypto';
import { WeftError } from '@weft/core';
import { splitCertificates } from './pem.js';

export interface CertificateInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  /** URI SANs that are SPIFFE IDs. */
  readonly spiffeIds: readonly string[];
  readonly dnsNames: readonly string[];
  readonly isCa: boolean;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** ms until it expires; negative once expired. */
  readonly expiresInMs: number;
  readonly fingerprintSha256: string;
}

function sans(text: string | undefined, prefix: string): string[] {
  if (text === undefined) return [];
  return text
    .split(/,\s*/)
    .filter((s) => s.startsWith(prefix))
    .map((s) => s.slice(prefix.length));
}

/** The URI SANs of a certificate, from Node's `subjectAltName` text (`URI:spiffe://…, DNS:…`). */
export function uriSans(subjectAltName: string | undefined): string[] {
  return sans(subjectAltName, 'URI:');
}

/** Every certificate of a PEM text (a leaf, a chain or a bundle), in order; `now` for `expiresInMs`. */
export function inspectCertificate(pem: string, now = Date.now()): CertificateInfo[] {
  const texts = splitCertificates(pem);
  if (texts.length === 0)
    throw new WeftError('WEFT_ERR_CA', 'no PEM certificate ("-----BEGIN CERTIFICATE-----") found');
  return texts.map((text) => {
    const cert = new X509Certificate(text);
    const notAfter = new Date(cert.validTo);
    return {
      subject: (cert.subject ?? '').replace(/\n/g, ', '),
      issuer: (cert.issuer ?? '').replace(/\n/g, ', '),
      serialNumber: cert.serialNumber.toLowerCase(),
      spiffeIds: uriSans(cert.subjectAltName).filter((u) => u.startsWith('spiffe://')),
      dnsNames: sans(cert.subjectAltName, 'DNS:'),
      isCa: cert.ca,
      notBefore: new Date(cert.validFrom),
      notAfter,
      expiresInMs: notAfter.getTime() - now,
      fingerprintSha256: cert.fingerprint256,
    };
  });
}
