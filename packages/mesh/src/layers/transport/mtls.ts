// TLS on outbound connections: mutual TLS with the workload's certificate, the endpoint's checked against the identities its service may have (secure naming); and TLS a DestinationRule originates with files of its own (SIMPLE, MUTUAL).
import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import {
  type ConnectionOptions,
  checkServerIdentity,
  createSecureContext,
  type PeerCertificate,
  type SecureContext,
  type TLSSocket,
  connect as tlsConnect,
} from 'node:tls';
import { type Endpoint, WeftError } from '@weft/core';
import type { TrafficPolicy } from '@weft/policy';
import { uriSans } from '@weft/security';

/** What the transport needs of the workload's identity. */
export interface ClientTls {
  /** The current certificate, key and trust bundle (a new one after each renewal; new connections take it). */
  context(): SecureContext;
  /** The mesh's trust domain, for the identity a service has by default. */
  readonly trustDomain: string;
  /** Told when an endpoint's certificate names an identity its service may not have (for the log). */
  refused?(endpoint: string, reason: string): void;
}

export type ClientTlsSettings = NonNullable<TrafficPolicy['tls']>;

/** Istio's label on an endpoint saying whether its workload takes mutual TLS (`istio`) or not (`disabled`). */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';
/** The service account an endpoint's workload runs as, when it is not the service's name. */
export const SERVICE_ACCOUNT_LABEL = 'weft.io/service-account';

/** Code of the error a secure-naming failure carries out of the TLS handshake. */
export const PEER_IDENTITY_CODE = 'ERR_WEFT_PEER_IDENTITY';

/**
 * Whether a call to `endpoint` goes over mutual TLS. The DestinationRule's `tls.mode` decides
 * when set (`ISTIO_MUTUAL` yes, `DISABLE` no); otherwise, like Istio's auto mTLS, the endpoint
 * does unless it is labelled `security.istio.io/tlsMode: disabled` — weft assumes a mesh
 * endpoint speaks weft (Istio reads the label its injector writes; static endpoints have none).
 */
export function usesMtls(tls: ClientTlsSettings | undefined, endpoint: Endpoint): boolean {
  const mode = tls?.mode;
  if (mode === 'ISTIO_MUTUAL') return true;
  if (mode !== undefined) return false;
  return endpoint.labels[TLS_MODE_LABEL] !== 'disabled';
}

/**
 * The SPIFFE IDs the workload at `endpoint` may present for `service` (`name.namespace.svc.…`):
 * the rule's `tls.subjectAltNames` when given; else the service's own account
 * (`spiffe://<td>/ns/<namespace>/sa/<name>`, weft's default) and the endpoint's
 * `weft.io/service-account` label, if any.
 */
export function allowedIdentities(
  tls: ClientTlsSettings | undefined,
  service: string,
  endpoint: Endpoint,
  trustDomain: string,
): ReadonlySet<string> {
  if (tls?.subjectAltNames !== undefined && tls.subjectAltNames.length > 0) return new Set(tls.subjectAltNames);
  const [name, namespace = 'default'] = service.split('.');
  const ids = new Set([`spiffe://${trustDomain}/ns/${namespace}/sa/${name}`]);
  const account = endpoint.labels[SERVICE_ACCOUNT_LABEL];
  if (account !== undefined) ids.add(`spiffe://${trustDomain}/ns/${namespace}/sa/${account}`);
  return ids;
}

/** undici's `connect` option: opens the socket a pool's connection runs on. */
export type Connector = (options: unknown, callback: (error: Error | null, socket: Socket | null) => void) => void;

/**
 * A `connect` that opens TLS to `endpoint` with the options `tlsOptions()` gives at each new
 * connection (so a renewed identity is taken up), failing after `connectTimeoutMs`; TLS sessions
 * are resumed across connections to the endpoint. Written here rather than with undici's own
 * connector because the check of the server's identity differs (a SPIFFE ID, or a rule's SAN list).
 */
function tlsConnector(endpoint: Endpoint, connectTimeoutMs: number, tlsOptions: () => ConnectionOptions): Connector {
  let session: Buffer | undefined;
  return (_options, callback) => {
    let done = false;
    const finish = (error: Error | null, socket: TLSSocket | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      callback(error, socket);
    };
    const socket = tlsConnect({
      host: endpoint.host,
      port: endpoint.port,
      ALPNProtocols: ['http/1.1'],
      ...tlsOptions(),
      ...(session === undefined ? {} : { session }),
    });
    socket.setNoDelay(true);
    socket.on('session', (s: Buffer) => {
      session = s;
    });
    const timer = setTimeout(() => {
      const error = Object.assign(
        new Error(`connecting to ${endpoint.address} took more than ${connectTimeoutMs} ms`),
        {
          code: 'UND_ERR_CONNECT_TIMEOUT',
        },
      );
      socket.destroy(error);
      finish(error, null);
    }, connectTimeoutMs);
    socket.once('secureConnect', () => finish(null, socket));
    socket.once('error', (error) => finish(error, null));
  };
}

/**
 * undici's `connect` for an mTLS endpoint: a TLS connection with the workload's current
 * credentials, the chain checked against the trust bundle, and the server's SPIFFE ID against
 * `allowed` instead of a host name.
 */
export function mtlsConnector(
  tls: ClientTls,
  endpoint: Endpoint,
  allowed: ReadonlySet<string>,
  connectTimeoutMs: number,
): Connector {
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    const ids = uriSans(cert.subjectaltname);
    if (ids.some((id) => allowed.has(id))) return undefined;
    const reason = `${endpoint.address} presented ${ids.length === 0 ? 'no SPIFFE ID' : ids.join(', ')}, not an identity its service may have (${[...allowed].join(', ')})`;
    tls.refused?.(endpoint.address, reason);
    return Object.assign(new Error(reason), { code: PEER_IDENTITY_CODE });
  };
  return tlsConnector(endpoint, connectTimeoutMs, () => ({ secureContext: tls.context(), checkServerIdentity }));
}

/** What a DestinationRule's `tls` (SIMPLE or MUTUAL) originates with: its files read, its checks. */
export interface OriginatedTls {
  /** The rule's `caCertificates` (Node's roots when absent) and, for MUTUAL, its client certificate and key: parsed once. */
  readonly context: SecureContext;
  readonly sni: string | undefined;
  /** Names the server's certificate must carry one of (DNS, URI or IP SANs), instead of the SNI host. */
  readonly subjectAltNames: readonly string[] | undefined;
  readonly insecureSkipVerify: boolean;
}

/**
 * Reads the files of a SIMPLE or MUTUAL rule. They are paths on this machine (an absolute path,
 * or one relative to the working directory), read once per rule; an unreadable one, or a rule
 * that names only a Kubernetes secret, fails with WEFT_ERR_TLS_ORIGINATION saying which.
 */
export function readOriginatedTls(settings: ClientTlsSettings, service: string): OriginatedTls {
  const read = (field: 'caCertificates' | 'clientCertificate' | 'privateKey'): string | undefined => {
    const path = settings[field];
    if (path === undefined) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      throw new WeftError(
        'WEFT_ERR_TLS_ORIGINATION',
        `the DestinationRule of ${service} names tls.${field} "${path}", which cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); no call is sent without the TLS it asks for`,
        { service, cause: error },
      );
    }
  };
  if (settings.mode === 'MUTUAL' && (settings.clientCertificate === undefined || settings.privateKey === undefined)) {
    throw new WeftError(
      'WEFT_ERR_TLS_ORIGINATION',
      `the DestinationRule of ${service} asks for tls.mode MUTUAL with credentialName "${settings.credentialName ?? ''}" only: weft reads no Kubernetes secrets; give clientCertificate and privateKey as PEM file paths`,
      { service },
    );
  }
  const ca = read('caCertificates');
  const cert = read('clientCertificate');
  const key = read('privateKey');
  let context: SecureContext;
  try {
    context = createSecureContext({
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert, key }),
    });
  } catch (error) {
    throw new WeftError(
      'WEFT_ERR_TLS_ORIGINATION',
      `the DestinationRule of ${service} names TLS files that are not usable PEM: ${(error as Error).message}`,
      { service, cause: error },
    );
  }
  return {
    context,
    sni: settings.sni === undefined || settings.sni === '' ? undefined : settings.sni,
    subjectAltNames:
      settings.subjectAltNames === undefined || settings.subjectAltNames.length === 0
        ? undefined
        : settings.subjectAltNames,
    insecureSkipVerify: settings.insecureSkipVerify === true,
  };
}

/** The values of a certificate's SANs of every type (`DNS:a, URI:b, IP Address:c` → a, b, c). */
function sanValues(subjectaltname: string | undefined): string[] {
  if (subjectaltname === undefined) return [];
  return subjectaltname.split(', ').map((entry) => entry.slice(entry.indexOf(':') + 1));
}

/**
 * undici's `connect` for TLS a rule originates (Istio's SIMPLE and MUTUAL): SNI from the rule's
 * `sni` or the call's host (Istio's auto SNI), the chain checked against the rule's CA file or
 * the platform's roots, and the server's name against the rule's `subjectAltNames` or, without
 * them, the SNI host; `insecureSkipVerify` checks neither. MUTUAL presents the rule's client
 * certificate.
 */
export function originationConnector(
  tls: OriginatedTls,
  endpoint: Endpoint,
  host: string,
  connectTimeoutMs: number,
): Connector {
  const servername = tls.sni ?? host;
  const sans = tls.subjectAltNames;
  const options: ConnectionOptions = {
    ...(isIP(servername) === 0 ? { servername } : {}),
    secureContext: tls.context,
    rejectUnauthorized: !tls.insecureSkipVerify,
    checkServerIdentity: tls.insecureSkipVerify
      ? () => undefined
      : sans === undefined
        ? (_host: string, cert: PeerCertificate) => checkServerIdentity(servername, cert)
        : (_host: string, cert: PeerCertificate) => {
            const names = sanValues(cert.subjectaltname);
            if (names.some((n) => sans.includes(n))) return undefined;
            return Object.assign(
              new Error(
                `${endpoint.address} presented ${names.length === 0 ? 'no subject alt names' : names.join(', ')}, none of the rule's subjectAltNames (${sans.join(', ')})`,
              ),
              { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
            );
          },
  };
  return tlsConnector(endpoint, connectTimeoutMs, () => options);
}
