// Round robin: each service's endpoints in turn.
import type { Endpoint, EndpointSnapshot } from '@weft/core';
import type { Picker } from './index.js';

export function roundRobin(): Picker {
  // One counter per service, kept across endpoint changes so a change does not send the
  // next calls back to the first endpoint.
  const next = new Map<string, number>();
  return (snapshot: EndpointSnapshot): Endpoint | undefined => {
    const endpoints = snapshot.endpoints;
    const n = endpoints.length;
    if (n === 0) return undefined;
    const i = next.get(snapshot.service) ?? 0;
    next.set(snapshot.service, i + 1 >= n ? 0 : i + 1);
    return endpoints[i < n ? i : i % n];
  };
}
