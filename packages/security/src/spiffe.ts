// SPIFFE IDs: `spiffe://<trust-domain>/<path>`, and the workload form Istio issues, `spiffe://<td>/ns/<namespace>/sa/<service-account>`.
import { WeftError } from '@weft/core';

/** A parsed SPIFFE ID; `namespace` and `serviceAccount` are set when the path has Istio's workload form. */
export interface SpiffeId {
  /** The whole ID, as it appears in a certificate's URI SAN. */
  readonly uri: string;
  readonly trustDomain: string;
  /** The path, with its leading `/`; empty for the trust domain's own ID. */
  readonly path: string;
  readonly namespace: string | undefined;
  readonly serviceAccount: string | undefined;
}

// The SPIFFE ID standard (spiffe/spiffe, standards/SPIFFE-ID.md): trust domain of lower-case letters,
// digits, '.', '-', '_'; path segments of letters, digits, '.', '-', '_', never empty, '.' or '..'.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_LENGTH = 2048;

export const SPIFFE_ID_EXPECTED =
  'spiffe://<trust-domain>/<path>: a trust domain of lower-case letters, digits, ".", "-", "_", and path segments of letters, digits, ".", "-", "_" (not "." or "..")';

function invalid(uri: string, reason: string): WeftError {
  return new WeftError('WEFT_ERR_SPIFFE_ID', `"${uri}" is not a SPIFFE ID: ${reason}; expected ${SPIFFE_ID_EXPECTED}`);
}

/** Why `trustDomain` is not a valid SPIFFE trust domain, or `undefined` when it is. */
export function trustDomainProblem(trustDomain: string): string | undefined {
  if (trustDomain.length === 0) return 'the trust domain is empty';
  if (!TRUST_DOMAIN.test(trustDomain))
    return 'the trust domain may hold only lower-case letters, digits, ".", "-" and "_"';
  return undefined;
}

/** Parses and checks a SPIFFE ID; throws `WEFT_ERR_SPIFFE_ID` saying what is wrong. */
export function parseSpiffeId(uri: string): SpiffeId {
  if (uri.length > MAX_LENGTH) throw invalid(`${uri.slice(0, 40)}…`, `longer than ${MAX_LENGTH} bytes`);
  if (!uri.startsWith('spiffe://')) throw invalid(uri, 'the scheme is not "spiffe://"');
  const rest = uri.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  const tdProblem = trustDomainProblem(trustDomain);
  if (tdProblem !== undefined) throw invalid(uri, tdProblem);
  if (path === '/') throw invalid(uri, 'the path ends with "/"');
  const segments = path === '' ? [] : path.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '') throw invalid(uri, 'the path has an empty segment');
    if (segment === '.' || segment === '..') throw invalid(uri, `the path has a "${segment}" segment`);
    if (!SEGMENT.test(segment))
      throw invalid(uri, `the path segment "${segment}" has a character SPIFFE does not allow`);
  }
  const workload = segments.length === 4 && segments[0] === 'ns' && segments[2] === 'sa';
  return {
    uri,
    trustDomain,
    path,
    namespace: workload ? segments[1] : undefined,
    serviceAccount: workload ? segments[3] : undefined,
  };
}

/** The ID Istio gives a workload: `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>`, checked. */
export function workloadSpiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return parseSpiffeId(`spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`).uri;
}
