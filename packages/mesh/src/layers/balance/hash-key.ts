// The hash key of a call for consistent-hash balancing, from a DestinationRule's consistentHash setting.
import type { HeaderValue, WeftRequest } from '@weft/core';
import type { TrafficPolicy } from '@weft/policy';

/** Istio's `ConsistentHashLB`, as the DestinationRule schema parses it. */
export type ConsistentHashSetting = NonNullable<NonNullable<TrafficPolicy['loadBalancer']>['consistentHash']>;

function headerText(value: HeaderValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (value.length === 0) return undefined;
  // A repeated header hashes the same whatever the order of its values, as in Envoy.
  return value.length === 1 ? value[0] : [...value].sort().join(',');
}

/** The value of cookie `name` in the request's `cookie` header(s), quotes removed; `undefined` when absent. */
function cookieValue(request: WeftRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  for (const line of typeof header === 'string' ? [header] : header) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
      const value = pair.slice(eq + 1).trim();
      return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
    }
  }
  return undefined;
}

/** The first value of query parameter `name` in the request path, as sent (not percent-decoded, as Envoy). */
function queryValue(request: WeftRequest, name: string): string | undefined {
  const path = request.path;
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  const hash = path.indexOf('#', q);
  const query = path.slice(q + 1, hash < 0 ? undefined : hash);
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (key === name) return eq < 0 ? '' : pair.slice(eq + 1);
  }
  return undefined;
}

/**
 * The key a consistent-hash picker hashes for this request, or `undefined` when the request
 * has none (the picker then sends the call to a random endpoint, as Envoy does):
 * - `httpHeaderName`: the header's value (a repeated header: its values sorted, comma-joined);
 * - `httpCookie`: the named cookie's value from the `cookie` header. When the cookie is absent,
 *   this returns `undefined`; issuing one (when `ttl` is set) is `byDestinationRule`'s job;
 * - `useSourceIp`: `sourceIp` (for an in-process caller, the workload's own address: `sourceAddress()`);
 * - `httpQueryParameterName`: the first value of that query parameter (`''` for `?name`).
 *
 * Pickers only see `(snapshot, ctx)`, so this runs before balancing, once per call.
 */
export function hashKeyOf(
  setting: ConsistentHashSetting,
  request: WeftRequest,
  sourceIp: string | undefined,
): string | undefined {
  if (setting.httpHeaderName !== undefined) {
    return headerText(request.headers[setting.httpHeaderName.toLowerCase()]);
  }
  if (setting.httpCookie !== undefined) return cookieValue(request, setting.httpCookie.name);
  if (setting.useSourceIp === true) return sourceIp;
  if (setting.httpQueryParameterName !== undefined) return queryValue(request, setting.httpQueryParameterName);
  return undefined;
}
