// The calling workload's own IP address: what `consistentHash.useSourceIp` hashes for an in-process caller.
import { networkInterfaces } from 'node:os';

let cached: string | undefined;

/**
 * The address a sidecar would see as the source of this workload's outbound calls: the pod's
 * IP. Read once: `INSTANCE_IP` or `POD_IP` from the environment (Istio's injector and the usual
 * Downward API names), else the first non-internal IPv4 address of the host, else `127.0.0.1`.
 * Every call of the process hashes the same, so all of its calls to a destination go to one
 * endpoint, as all of a pod's calls do behind a sidecar.
 */
export function sourceAddress(): string {
  if (cached !== undefined) return cached;
  const fromEnv = process.env.INSTANCE_IP ?? process.env.POD_IP;
  if (fromEnv !== undefined && fromEnv !== '') {
    cached = fromEnv;
    return cached;
  }
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      if (!info.internal && info.family === 'IPv4') {
        cached = info.address;
        return cached;
      }
    }
  }
  cached = '127.0.0.1';
  return cached;
}
