// Mutual TLS on outbound connections: the workload's certificate presented, the endpoint's checked against the identities its service may have (secure naming).
import type { Socket } from 'node:net';
import { type PeerCertificate, type SecureContext, type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Endpoint } from '@weft/core';
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

/**
 * undici's `connect` for an mTLS endpoint: a TLS connection with the workload's current
 * credentials, the chain checked against the trust bundle, and the server's SPIFFE ID against
 * `allowed` instead of a host name. TLS sessions are resumed across connections to the endpoint.
 */
export function mtlsConnector(
  tls: ClientTls,
  endpoint: Endpoint,
  allowed: ReadonlySet<string>,
  connectTimeoutMs: number,
): (options: unknown, callback: (error: Error | null, socket: Socket | null) => void) => void {
  let session: Buffer | undefined;
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    const ids = uriSans(cert.subjectaltname);
    if (ids.some((id) => allowed.has(id))) return undefined;
    const reason = `${endpoint.address} presented ${ids.length === 0 ? 'no SPIFFE ID' : ids.join(', ')}, not an identity its service may have (${[...allowed].join(', ')})`;
    tls.refused?.(endpoint.address, reason);
    return Object.assign(new Error(reason), { code: PEER_IDENTITY_CODE });
  };
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
      secureContext: tls.context(),
      ALPNProtocols: ['http/1.1'],
      checkServerIdentity,
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
