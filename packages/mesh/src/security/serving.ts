// mTLS on the serving side of a mesh: its identity started, the TLS context kept current, each port's PeerAuthentication mode read from policy.
import { createSecureContext, type SecureContext } from 'node:tls';
import type { PolicySnapshot } from '@weft/policy';
import type { Credentials, WorkloadIdentity } from '@weft/security';
import type { Logger } from '../options/logger.js';
import type { ResolvedMeshOptions, ResolvedSecurity } from '../options/mesh-options.js';
import type { FrontPolicy } from '../server/front.js';
import { startIdentity } from './identity.js';
import { type MtlsMode, mtlsModeFor, type PeerWorkload } from './peer-authentication.js';
import type { SecurityStats } from './stats.js';

/** TLS 1.2 at least, as the issue and Istio's defaults ask; Node negotiates 1.3 when both ends have it. */
export const MIN_TLS_VERSION = 'TLSv1.2';

export function secureContextOf(credentials: Credentials): SecureContext {
  return createSecureContext({
    key: credentials.privateKeyPem,
    cert: credentials.chainPem,
    ca: credentials.rootsPem,
    minVersion: MIN_TLS_VERSION,
    // tls.Server sets one for itself; a server socket made by hand needs it for a client to resume a session.
    sessionIdContext: 'weft',
  });
}

/** Starts the workload's identity and the front's policy: current TLS context, mode per port, refusals logged and counted. */
export async function startSecurity(
  security: ResolvedSecurity,
  options: ResolvedMeshOptions,
  policy: { current(): PolicySnapshot },
  workload: PeerWorkload,
  logger: Logger,
  stats: SecurityStats,
): Promise<{ identity: WorkloadIdentity; front: FrontPolicy }> {
  const identity = await startIdentity({
    trustDomain: security.trustDomain,
    namespace: options.namespace,
    serviceAccount: security.serviceAccount,
    identity: security.identity,
    certificateTtlMs: security.certificateTtlMs,
    renewAtFraction: security.renewAtFraction,
    onError: (error) => logger.warn({ event: 'identity.renewal_failed', code: error.code }, error.message),
  });
  let context = secureContextOf(identity.current);
  identity.onRenew((credentials) => {
    context = secureContextOf(credentials);
    logger.info(
      { event: 'identity.renewed', spiffeId: credentials.spiffeId, notAfter: credentials.notAfter.toISOString() },
      'workload certificate renewed',
    );
  });
  // The mode of each port is read from the policy once per snapshot.
  let modesOf: PolicySnapshot | undefined;
  const modes = new Map<number, MtlsMode>();
  const front: FrontPolicy = {
    mode(port) {
      const snapshot = policy.current();
      if (snapshot !== modesOf) {
        modesOf = snapshot;
        modes.clear();
      }
      let mode = modes.get(port);
      if (mode === undefined) {
        mode = mtlsModeFor(snapshot, workload, port);
        modes.set(port, mode);
      }
      return mode;
    },
    context: () => context,
    refused(reason, remote, port) {
      stats.tlsRefused(reason);
      logger.warn({ event: 'tls.refused', reason, remote, port }, `connection refused: ${reason}`);
    },
  };
  return { identity, front };
}
