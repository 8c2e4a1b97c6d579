// The socket front of a mesh server with mTLS on: TLS or plaintext on one port (PERMISSIVE), or only the one the mode allows.
import type { Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import type { PeerIdentity } from '@weft/core';
import { parseSpiffeId, uriSans } from '@weft/security';
import type { MtlsMode } from '../security/peer-authentication.js';

/** What the front asks the mesh for each new connection. */
export interface FrontPolicy {
  /** The PeerAuthentication mode of the port, from the current policy. */
  mode(port: number): MtlsMode;
  /** The current certificate, key and trust bundle (swapped on renewal; new connections get the new one). */
  context(): SecureContext;
  /** A connection refused at the socket or TLS layer, with the reason: for the log and the counters. */
  refused(reason: string, remote: string | undefined, port: number): void;
}

/** The first byte of a TLS record carrying a handshake (a ClientHello). */
const TLS_HANDSHAKE = 0x16;

const peers = new WeakMap<TLSSocket, PeerIdentity | null>();

/**
 * The caller's identity on a TLS connection, read once per connection from its verified certificate:
 * the first spiffe:// URI SAN. `undefined` for plaintext, or a certificate without a SPIFFE ID.
 */
export function peerIdentity(socket: Socket): PeerIdentity | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  let peer = peers.get(socket);
  if (peer === undefined) {
    peer = null;
    const uri = uriSans(socket.getPeerX509Certificate()?.subjectAltName).find((s) => s.startsWith('spiffe://'));
    if (uri !== undefined) {
      try {
        const id = parseSpiffeId(uri);
        peer = {
          spiffeId: id.uri,
          principal: id.uri.slice('spiffe://'.length),
          trustDomain: id.trustDomain,
          namespace: id.namespace,
          serviceAccount: id.serviceAccount,
        };
      } catch {
        peer = null;
      }
    }
    peers.set(socket, peer);
  }
  return peer ?? undefined;
}

/**
 * A net server that looks at the first byte of each connection and hands it to `http` either
 * as TLS (the handshake requires and verifies a client certificate against the trust bundle) or
 * as plaintext, as the port's mode allows: STRICT refuses plaintext, DISABLE refuses TLS,
 * PERMISSIVE takes both.
 */
export function secureFront(http: HttpServer, policy: FrontPolicy): NetServer {
  return createNetServer((socket) => {
    const port = socket.localPort ?? 0;
    socket.once('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.pause();
      const mode = policy.mode(port);
      const tls = first[0] === TLS_HANDSHAKE;
      if (tls && mode === 'DISABLE') {
        policy.refused('a TLS handshake on a port whose PeerAuthentication is DISABLE', socket.remoteAddress, port);
        socket.destroy();
        return;
      }
      if (!tls && mode === 'STRICT') {
        policy.refused(
          'plaintext on a port whose PeerAuthentication is STRICT (mutual TLS only)',
          socket.remoteAddress,
          port,
        );
        socket.destroy();
        return;
      }
      if (!tls) {
        socket.unshift(first);
        http.emit('connection', socket);
        socket.resume();
        return;
      }
      const secure = new TLSSocket(socket, {
        isServer: true,
        secureContext: policy.context(),
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['http/1.1'],
      });
      // The byte read to tell TLS from plaintext is already out of the socket: hand it to the TLS
      // engine as if read from the wire. (Node has no peek; tls.Server never reads first.)
      (secure as unknown as { _handle: { receive(data: Buffer): void } })._handle.receive(first);
      secure.once('error', (error: NodeJS.ErrnoException) => {
        policy.refused(tlsRefusal(error), socket.remoteAddress, port);
        secure.destroy();
      });
      // Node's TLS layer lets any chain through the handshake and leaves the verdict to JavaScript
      // (tls.Server does this check itself): refuse a client certificate that did not verify.
      secure.once('secure', () => {
        const error = (
          secure as unknown as { _handle: { verifyError(): NodeJS.ErrnoException | null } }
        )._handle.verifyError();
        if (error === null) {
          (secure as { authorized: boolean }).authorized = true;
          return;
        }
        policy.refused(tlsRefusal(error), socket.remoteAddress, port);
        secure.destroy();
      });
      http.emit('connection', secure);
    });
  });
}

/** A handshake failure in words an operator acts on. */
function tlsRefusal(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE':
      return 'a TLS client without a certificate (mutual TLS needs one)';
    case 'CERT_HAS_EXPIRED':
      return 'a client certificate that has expired';
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      return `a client certificate that does not chain to this mesh's trust bundle (another trust domain or CA?): ${error.code}`;
    case 'CERT_NOT_YET_VALID':
      return 'a client certificate not valid yet (clock skew?)';
    default:
      return `a failed TLS handshake: ${error.code ?? error.message}`;
  }
}
