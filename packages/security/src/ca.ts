// The certificate authority: a root (or an intermediate under a user's root) on ECDSA P-256 that signs workload certificates.
// Loaded before @peculiar/x509, whose dependency injection (tsyringe) needs the Reflect metadata API.
import 'reflect-metadata';
import { randomBytes, type webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Pkcs10CertificateRequest,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  type X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';
import { WeftError } from '@weft/core';
import {
  certificatePem,
  EC_KEY,
  EC_SIGN,
  generateKeyPair,
  importPrivateKey,
  parseCertificate,
  privateKeyPem,
  splitCertificates,
  subtle,
} from './pem.js';
import { parseSpiffeId, trustDomainProblem } from './spiffe.js';

/** The file names Istio uses for a plugged-in CA, so a directory made for istiod works here and back. */
export const CA_FILES = {
  certificate: 'ca-cert.pem',
  privateKey: 'ca-key.pem',
  /** The CA's certificate and those above it up to the root: what a workload appends to its own. */
  chain: 'cert-chain.pem',
  /** The trust bundle: every root a peer's chain may end in (several while a root is being replaced). */
  roots: 'root-cert.pem',
} as const;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const CA_DEFAULTS = {
  /** Istio's default trust domain. */
  trustDomain: 'cluster.local',
  /** A self-signed root lives 10 years, as istiod's does. */
  rootValidityMs: 3650 * DAY,
  /** An intermediate under a user's root: 1 year. */
  intermediateValidityMs: 365 * DAY,
  /** A workload certificate: 24 h, as Istio's. */
  workloadTtlMs: 24 * HOUR,
  /** The longest workload certificate the CA signs (Istio's max workload cert TTL is 90 days). */
  maxWorkloadTtlMs: 90 * DAY,
  /** The shortest: a minute's life still leaves room to renew at half of it. */
  minWorkloadTtlMs: 10_000,
  /** notBefore is set this far in the past, so a peer whose clock is a little behind accepts a new certificate. */
  backdateMs: 60_000,
} as const;

export interface CreateCaOptions {
  /** SPIFFE trust domain the CA issues IDs in; default `cluster.local`, as Istio. */
  trustDomain?: string;
  /** Subject common name of the CA certificate; default `weft CA (<trust domain>)`. */
  commonName?: string;
  /** Life of the CA certificate in ms (10 years for a root, 1 year for an intermediate). */
  validityMs?: number;
  /** Make an intermediate CA signed by this root (or intermediate) instead of a self-signed root. */
  parent?: { certificatePem: string; privateKeyPem: string; chainPem?: string; rootsPem?: string };
}

export interface SignRequest {
  /** The workload's PKCS#10 CSR in PEM. Its private key stays with the workload. */
  csrPem: string;
  /** The SPIFFE ID the certificate carries: decided by whoever authenticated the requester, never by the CSR. */
  spiffeId: string;
  /** Life of the certificate in ms; default 24 h. */
  ttlMs?: number;
}

export interface IssuedCertificate {
  readonly spiffeId: string;
  /** The workload's certificate alone. */
  readonly certificatePem: string;
  /** The certificate followed by the CA's chain: what the workload presents in a TLS handshake. */
  readonly chainPem: string;
  /** The trust bundle: the roots a peer's chain is checked against. */
  readonly rootsPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialNumber: string;
}

function caError(message: string, cause?: unknown): WeftError {
  return new WeftError('WEFT_ERR_CA', message, cause === undefined ? {} : { cause });
}

function requestError(message: string): WeftError {
  return new WeftError('WEFT_ERR_CA_REQUEST', message);
}

/** A positive 128-bit serial number in hex (RFC 5280 allows up to 20 octets; the top bit cleared keeps it positive). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw caError(`cannot read ${path}: ${(error as Error).message}`, error);
  }
}

/**
 * A CA that signs workload certificates with SPIFFE IDs in its trust domain. Made new
 * (`create`), or loaded from a directory in istiod's plugged-in CA layout (`load`). Its key is
 * written 0600 and refused on load when others can read it.
 */
export class CertificateAuthority {
  readonly trustDomain: string;
  readonly certificate: X509Certificate;
  /** The CA's certificate and those above it, PEM, the CA's own first. */
  readonly chainPem: string;
  /** The trust bundle, PEM: one root, or several while one replaces another. */
  rootsPem: string;
  readonly #key: webcrypto.CryptoKey;

  private constructor(
    trustDomain: string,
    certificate: X509Certificate,
    key: webcrypto.CryptoKey,
    chainPem: string,
    rootsPem: string,
  ) {
    this.trustDomain = trustDomain;
    this.certificate = certificate;
    this.#key = key;
    this.chainPem = chainPem;
    this.rootsPem = rootsPem;
  }

  /** A new CA: a self-signed root, or an intermediate signed by `options.parent`. */
  static async create(options: CreateCaOptions = {}): Promise<CertificateAuthority> {
    const trustDomain = options.trustDomain ?? CA_DEFAULTS.trustDomain;
    const problem = trustDomainProblem(trustDomain);
    if (problem !== undefined) throw caError(`"${trustDomain}" is not a valid trust domain: ${problem}`);
    const keys = await generateKeyPair();
    const name = `CN=${options.commonName ?? `weft CA (${trustDomain})`}, O=${trustDomain}`;
    const now = Date.now();
    const notBefore = new Date(now - CA_DEFAULTS.backdateMs);
    const caUsage = [
      new BasicConstraintsExtension(true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature, true),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
    ];
    if (options.parent === undefined) {
      const certificate = await X509CertificateGenerator.createSelfSigned({
        serialNumber: serialNumber(),
        name,
        notBefore,
        notAfter: new Date(now + (options.validityMs ?? CA_DEFAULTS.rootValidityMs)),
        signingAlgorithm: EC_SIGN,
        keys,
        extensions: caUsage,
      });
      const pem = certificatePem(certificate);
      return new CertificateAuthority(trustDomain, certificate, keys.privateKey, pem, pem);
    }
    const parentCert = parseCertificate(options.parent.certificatePem);
    const parentKey = await importPrivateKey(options.parent.privateKeyPem).catch((error: unknown) => {
      throw caError('the parent CA key is not a PKCS#8 ECDSA P-256 key in PEM', error);
    });
    const notAfter = Math.min(
      now + (options.validityMs ?? CA_DEFAULTS.intermediateValidityMs),
      parentCert.notAfter.getTime(),
    );
    const certificate = await X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: name,
      issuer: parentCert.subject,
      notBefore,
      notAfter: new Date(notAfter),
      signingAlgorithm: EC_SIGN,
      publicKey: keys.publicKey,
      signingKey: parentKey,
      extensions: [...caUsage, await AuthorityKeyIdentifierExtension.create(parentCert.publicKey)],
    });
    const parentChain = options.parent.chainPem ?? options.parent.certificatePem;
    const roots = options.parent.rootsPem ?? splitCertificates(parentChain).at(-1) ?? options.parent.certificatePem;
    return new CertificateAuthority(
      trustDomain,
      certificate,
      keys.privateKey,
      certificatePem(certificate) + parentChain,
      roots,
    );
  }

  /** Loads a CA from `dir` (ca-cert.pem, ca-key.pem, cert-chain.pem, root-cert.pem). */
  static async load(dir: string): Promise<CertificateAuthority> {
    const keyPath = join(dir, CA_FILES.privateKey);
    const info = await stat(keyPath).catch((error: unknown) => {
      throw caError(
        `no CA in ${dir}: cannot read ${keyPath} (${(error as Error).message}); create one with "weft ca init --dir ${dir}"`,
        error,
      );
    });
    if ((info.mode & 0o077) !== 0) {
      throw new WeftError(
        'WEFT_ERR_CA_KEY_PERMISSIONS',
        `${keyPath} can be read by others (mode ${(info.mode & 0o777).toString(8)}); the CA key must be 600: run "chmod 600 ${keyPath}"`,
      );
    }
    const [certText, keyText, chainText, rootsText] = await Promise.all([
      readText(join(dir, CA_FILES.certificate)),
      readText(keyPath),
      readText(join(dir, CA_FILES.chain)),
      readText(join(dir, CA_FILES.roots)),
    ]);
    const certificate = parseCertificate(certText);
    const key = await importPrivateKey(keyText).catch((error: unknown) => {
      throw caError(`${keyPath} is not a PKCS#8 ECDSA P-256 key in PEM`, error);
    });
    const trustDomain = /(?:^|,\s*)O=([^,]+)/.exec(certificate.subject)?.[1] ?? CA_DEFAULTS.trustDomain;
    return new CertificateAuthority(trustDomain, certificate, key, chainText, rootsText);
  }

  /** Writes the CA to `dir` in istiod's layout; the key file is created 0600. */
  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const keyPath = join(dir, CA_FILES.privateKey);
    await writeFile(keyPath, await privateKeyPem(this.#key), { mode: 0o600 });
    // writeFile's mode applies only to a new file: an existing key file is narrowed too.
    await chmod(keyPath, 0o600);
    await writeFile(join(dir, CA_FILES.certificate), certificatePem(this.certificate));
    await writeFile(join(dir, CA_FILES.chain), this.chainPem);
    await writeFile(join(dir, CA_FILES.roots), this.rootsPem);
  }

  /** Adds a root to the trust bundle (while peers move from one root to another, both are trusted). */
  trustRoot(rootPem: string): void {
    for (const cert of splitCertificates(rootPem)) if (!this.rootsPem.includes(cert.trim())) this.rootsPem += cert;
  }

  /**
   * Signs a workload's CSR. The certificate carries `spiffeId` as its only URI SAN (critical, with
   * an empty subject, as Istio issues them), for TLS servers and clients alike, for `ttlMs`.
   */
  async sign(request: SignRequest): Promise<IssuedCertificate> {
    const id = parseSpiffeId(request.spiffeId);
    if (id.trustDomain !== this.trustDomain) {
      throw requestError(`${id.uri} is outside this CA's trust domain "${this.trustDomain}"`);
    }
    const ttlMs = request.ttlMs ?? CA_DEFAULTS.workloadTtlMs;
    if (!(ttlMs >= CA_DEFAULTS.minWorkloadTtlMs && ttlMs <= CA_DEFAULTS.maxWorkloadTtlMs)) {
      throw requestError(
        `a certificate life of ${ttlMs} ms is outside what this CA signs: from ${CA_DEFAULTS.minWorkloadTtlMs} ms to ${CA_DEFAULTS.maxWorkloadTtlMs} ms (90 days)`,
      );
    }
    let csr: Pkcs10CertificateRequest;
    try {
      csr = new Pkcs10CertificateRequest(request.csrPem);
    } catch (error) {
      throw requestError(`the certificate signing request is not a PKCS#10 CSR in PEM (${(error as Error).message})`);
    }
    if (!(await csr.verify())) throw requestError('the certificate signing request is not signed by its own key');
    const algorithm = csr.publicKey.algorithm as webcrypto.EcKeyAlgorithm;
    if (algorithm.name !== EC_KEY.name || algorithm.namedCurve !== EC_KEY.namedCurve) {
      throw requestError(
        `the request's key is ${algorithm.name} ${algorithm.namedCurve ?? ''}; this CA signs ECDSA P-256 keys`,
      );
    }
    const now = Date.now();
    const notAfter = Math.min(now + ttlMs, this.certificate.notAfter.getTime());
    const serial = serialNumber();
    const certificate = await X509CertificateGenerator.create({
      serialNumber: serial,
      subject: '',
      issuer: this.certificate.subject,
      // Backdated for clock skew, but never by more than a tenth of a short certificate's life.
      notBefore: new Date(now - Math.min(CA_DEFAULTS.backdateMs, ttlMs / 10)),
      notAfter: new Date(notAfter),
      signingAlgorithm: EC_SIGN,
      publicKey: await csr.publicKey.export(),
      signingKey: this.#key,
      extensions: [
        new BasicConstraintsExtension(false, undefined, true),
        new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment, true),
        new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth]),
        new SubjectAlternativeNameExtension([{ type: 'url', value: id.uri }], true),
        await AuthorityKeyIdentifierExtension.create(this.certificate.publicKey),
      ],
    });
    const pem = certificatePem(certificate);
    return {
      spiffeId: id.uri,
      certificatePem: pem,
      chainPem: pem + this.chainPem,
      rootsPem: this.rootsPem,
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      serialNumber: serial,
    };
  }
}

// Kept for callers that build CSRs with WebCrypto keys of their own.
export { subtle };
