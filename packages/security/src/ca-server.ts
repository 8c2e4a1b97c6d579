// The CA as a service (`weft ca serve`), as istiod's CSR service: workloads send a CSR, keep their key, and get a certificate back.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WeftError } from '@weft/core';
import type { CertificateAuthority } from './ca.js';
import { createWorkloadKey, requestedSpiffeId } from './csr.js';
import type { CredentialSource, Credentials } from './identity.js';
import { inspectCertificate, uriSans } from './inspect.js';
import { parseSpiffeId, workloadSpiffeId } from './spiffe.js';

/** The path the CA server answers on. */
export const CA_SERVER_PATH = '/v1/certificates';
/** The identity the CA server's own certificate carries: clients check it (secure naming), not a host name. */
export const caServerIdentity = (trustDomain: string, namespace = 'weft-system'): string =>
  workloadSpiffeId(trustDomain, namespace, 'weft-ca');

const MAX_BODY_BYTES = 64 * 1024;

export interface CaServerOptions {
  ca: CertificateAuthority;
  /**
   * Bootstrap tokens: each token may obtain certificates for the SPIFFE IDs it maps to (a list,
   * or `*` for any ID in the trust domain). A workload that already holds a valid certificate
   * from this CA needs no token to renew it, for the same ID.
   */
  tokens?: Record<string, readonly string[] | '*'>;
  /** 127.0.0.1 by default. */
  host?: string;
  /** 0 (any free port) by default. */
  port?: number;
  /** Longest certificate life a client may ask for; the CA's own limits apply too. */
  maxTtlMs?: number;
  /** Told of each refused request, with the reason. */
  onRefused?: (reason: string) => void;
}

export interface RunningCaServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

interface SignBody {
  csr?: unknown;
  ttlMs?: unknown;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<SignBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new WeftError('WEFT_ERR_CA_REQUEST', `the request is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as SignBody;
  } catch {
    throw new WeftError(
      'WEFT_ERR_CA_REQUEST',
      'the request body is not JSON: expected { "csr": "<PEM>", "ttlMs": <number> }',
    );
  }
}

function tokenIds(tokens: CaServerOptions['tokens'], header: string | undefined): readonly string[] | '*' | undefined {
  if (tokens === undefined || header === undefined || !header.startsWith('Bearer ')) return undefined;
  const given = Buffer.from(header.slice('Bearer '.length));
  for (const [token, ids] of Object.entries(tokens)) {
    const known = Buffer.from(token);
    if (known.length === given.length && timingSafeEqual(known, given)) return ids;
  }
  return undefined;
}

/** The SPIFFE ID a CSR asks for; a request without one is refused. */
function requestedId(csrPem: string): string {
  let id: string | undefined;
  try {
    id = requestedSpiffeId(csrPem);
  } catch (error) {
    throw new WeftError('WEFT_ERR_CA_REQUEST', `the "csr" is not a PKCS#10 CSR in PEM (${(error as Error).message})`);
  }
  if (id === undefined)
    throw new WeftError('WEFT_ERR_CA_REQUEST', 'the CSR asks for no SPIFFE ID (no spiffe:// URI SAN)');
  return id;
}

/**
 * Starts the CA server on HTTPS. It presents a certificate for `caServerIdentity(trustDomain)`
 * signed by the CA, asks for (but does not require) a client certificate, and signs a CSR when the
 * caller is allowed the ID it asks for: by a valid certificate of the same ID, or by a token.
 */
export async function startCaServer(options: CaServerOptions): Promise<RunningCaServer> {
  const { ca } = options;
  const own = await createWorkloadKey(caServerIdentity(ca.trustDomain));
  const ownCert = await ca.sign({
    csrPem: own.csrPem,
    spiffeId: caServerIdentity(ca.trustDomain),
    ttlMs: 90 * 24 * 3_600_000,
  });
  const refuse = (res: ServerResponse, status: number, reason: string) => {
    options.onRefused?.(reason);
    send(res, status, { error: reason });
  };
  const server = createServer(
    {
      key: own.privateKeyPem,
      cert: ownCert.chainPem,
      ca: ca.rootsPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    (req, res) => {
      void (async () => {
        if (req.method !== 'POST' || req.url !== CA_SERVER_PATH) {
          refuse(res, 404, `the CA server answers POST ${CA_SERVER_PATH} only`);
          return;
        }
        try {
          const body = await readJson(req);
          if (typeof body.csr !== 'string')
            throw new WeftError('WEFT_ERR_CA_REQUEST', 'the request has no "csr" (a PEM string)');
          const ttlMs = body.ttlMs === undefined ? undefined : Number(body.ttlMs);
          if (ttlMs !== undefined && options.maxTtlMs !== undefined && ttlMs > options.maxTtlMs) {
            throw new WeftError(
              'WEFT_ERR_CA_REQUEST',
              `a life of ${ttlMs} ms is more than this server gives (${options.maxTtlMs} ms)`,
            );
          }
          const wanted = parseSpiffeId(requestedId(body.csr)).uri;
          const socket = req.socket as TLSSocket;
          const peer = socket.authorized
            ? inspectCertificate(socket.getPeerX509Certificate()?.toString() ?? '')[0]
            : undefined;
          const byCertificate = peer?.spiffeIds.includes(wanted) === true;
          const allowed = tokenIds(options.tokens, req.headers.authorization);
          const byToken = allowed === '*' || allowed?.includes(wanted) === true;
          if (!byCertificate && !byToken) {
            const who =
              peer !== undefined
                ? `the client certificate (${peer.spiffeIds.join(', ') || 'no SPIFFE ID'})`
                : allowed !== undefined
                  ? 'the token'
                  : 'no valid token or client certificate';
            refuse(res, 403, `${wanted} was refused: ${who} does not allow it`);
            return;
          }
          const issued = await ca.sign({
            csrPem: body.csr,
            spiffeId: wanted,
            ...(ttlMs === undefined ? {} : { ttlMs }),
          });
          send(res, 200, { certificateChain: issued.chainPem, roots: issued.rootsPem });
        } catch (error) {
          const code = (error as WeftError).code;
          const status = code === 'WEFT_ERR_CA_REQUEST' || code === 'WEFT_ERR_SPIFFE_ID' ? 400 : 500;
          refuse(res, status, `${code ?? 'error'}: ${(error as Error).message}`);
        }
      })();
    },
  );
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `https://${host}:${address.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface CaServerSourceOptions {
  /** `https://host:port` of `weft ca serve`. */
  url: string;
  /** The CA's roots (root-cert.pem): the server is checked against them, never the system's. */
  rootsPem: string;
  /** The SPIFFE ID to obtain. */
  spiffeId: string;
  /** The bootstrap token for the first certificate; renewals use the current certificate. */
  token?: string;
  ttlMs?: number;
  /** The CA server's own SPIFFE ID; default `caServerIdentity(<trust domain of spiffeId>)`. */
  serverIdentity?: string;
}

/**
 * Credentials from a CA server: a key made here, a CSR sent, the certificate back. The first
 * request authenticates with the token; later ones with the certificate they renew.
 */
export function caServerSource(options: CaServerSourceOptions): CredentialSource {
  const expectedServer = options.serverIdentity ?? caServerIdentity(parseSpiffeId(options.spiffeId).trustDomain);
  let last: Credentials | undefined;
  return {
    name: `CA server ${options.url}`,
    async fetch(): Promise<Credentials> {
      const key = await createWorkloadKey(options.spiffeId);
      const body = JSON.stringify({
        csr: key.csrPem,
        ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
      });
      const url = new URL(CA_SERVER_PATH, options.url);
      const current = last !== undefined && last.notAfter.getTime() > Date.now() ? last : undefined;
      const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = httpsRequest(
          url,
          {
            method: 'POST',
            ca: options.rootsPem,
            ...(current === undefined ? {} : { key: current.privateKeyPem, cert: current.chainPem }),
            headers: {
              'content-type': 'application/json',
              ...(current === undefined && options.token !== undefined
                ? { authorization: `Bearer ${options.token}` }
                : {}),
            },
            // Secure naming: the server must be the CA server's identity, whatever address it is at.
            checkServerIdentity: (_host, cert) => {
              return uriSans(cert.subjectaltname).includes(expectedServer)
                ? undefined
                : new Error(
                    `the CA server at ${options.url} is not ${expectedServer} (it presented ${cert.subjectaltname ?? 'no SAN'})`,
                  );
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      }).catch((error: unknown) => {
        throw new WeftError('WEFT_ERR_CA', `cannot reach the CA server ${options.url}: ${(error as Error).message}`, {
          cause: error,
        });
      });
      const parsed = JSON.parse(answer.text) as { certificateChain?: string; roots?: string; error?: string };
      if (answer.status !== 200 || parsed.certificateChain === undefined || parsed.roots === undefined) {
        throw new WeftError(
          'WEFT_ERR_CA_REQUEST',
          `the CA server ${options.url} refused ${options.spiffeId}: ${parsed.error ?? `status ${answer.status}`}`,
        );
      }
      const [leaf] = inspectCertificate(parsed.certificateChain);
      if (leaf === undefined || !leaf.spiffeIds.includes(options.spiffeId)) {
        throw new WeftError(
          'WEFT_ERR_CA',
          `the CA server ${options.url} answered with a certificate for another identity`,
        );
      }
      last = {
        spiffeId: options.spiffeId,
        privateKeyPem: key.privateKeyPem,
        chainPem: parsed.certificateChain,
        rootsPem: parsed.roots,
        notBefore: leaf.notBefore,
        notAfter: leaf.notAfter,
      };
      return last;
    },
  };
}
