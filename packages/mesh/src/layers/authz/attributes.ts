// What an authorization decision reads of one inbound request: Istio's attribute names, filled once per call.
import type { IncomingHttpHeaders } from 'node:http';

export interface RequestAttributes {
  method: string;
  /** The normalised path, without query. */
  path: string;
  /** The Host header. */
  host: string;
  /** The port the request arrived on. */
  port: number;
  headers: IncomingHttpHeaders;
  /** The address of the direct peer (`source.ip`). */
  sourceIp: string | undefined;
  /** The original client (`remote.ip`): the direct peer unless trusted proxies say otherwise. */
  remoteIp: string | undefined;
  destinationIp: string | undefined;
  /** TLS server name the client asked for. */
  sni: string | undefined;
  /** The peer's SPIFFE ID without `spiffe://` (`cluster.local/ns/default/sa/sleep`), when mTLS proved one. */
  principal: string | undefined;
  /** The peer's namespace, from its SPIFFE ID. */
  namespace: string | undefined;
  /** `<namespace>/<service-account>`, from the SPIFFE ID. */
  serviceAccount: string | undefined;
  /** `<iss>/<sub>` of a validated JWT (`request.auth.principal`). */
  requestPrincipal: string | undefined;
  /** The validated JWT's claims. */
  claims: Readonly<Record<string, unknown>> | undefined;
}

/** A header's value as Istio matches it: repeated headers joined with ",". */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(',') : value;
}

/** A claim by path (`groups`, or `[a][b]` nested), as strings: a list claim gives each entry. */
export function claimValues(claims: Readonly<Record<string, unknown>> | undefined, path: readonly string[]): string[] {
  let value: unknown = claims;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
    value = (value as Record<string, unknown>)[key];
  }
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string' || typeof v === 'number').map(String);
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return [String(value)];
  return [];
}
