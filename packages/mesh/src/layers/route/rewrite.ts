// Istio's rewrite (uri prefix, regex rewrite, authority) and redirect, on weft's request model.
import { copyHeaders, type WeftRequest, type WeftResponse } from '@weft/core';
import { compileRe2, type Re2 } from '@weft/policy';

interface Rewrite {
  uri?: string | undefined;
  authority?: string | undefined;
  uriRegexRewrite?: { match?: string | undefined; rewrite?: string | undefined } | undefined;
}

interface Redirect {
  uri?: string | undefined;
  authority?: string | undefined;
  port?: number | undefined;
  derivePort?: string | undefined;
  scheme?: string | undefined;
  redirectCode?: number | undefined;
}

function splitPath(path: string): [string, string] {
  const q = path.indexOf('?');
  return q < 0 ? [path, ''] : [path.slice(0, q), path.slice(q)];
}

const regexes = new Map<string, Re2>();
function re2(pattern: string): Re2 {
  let re = regexes.get(pattern);
  if (re === undefined) {
    re = compileRe2(pattern);
    if (regexes.size < 1024) regexes.set(pattern, re);
  }
  return re;
}

/** The path after a uri rewrite: the matched prefix replaced, or (no prefix match) the whole path; the query kept. */
function rewrittenPath(path: string, uri: string, uriPrefix: string | undefined): string {
  const [p, query] = splitPath(path);
  if (uriPrefix !== undefined && p.startsWith(uriPrefix)) return `${uri}${p.slice(uriPrefix.length)}${query}`;
  return `${uri}${query}`;
}

export function rewrite(request: WeftRequest, r: Rewrite, uriPrefix: string | undefined): WeftRequest {
  let path = request.path;
  if (r.uri !== undefined) path = rewrittenPath(path, r.uri, uriPrefix);
  else if (r.uriRegexRewrite?.match !== undefined) {
    const [p, query] = splitPath(path);
    path = `${re2(r.uriRegexRewrite.match).replaceAll(p, r.uriRegexRewrite.rewrite ?? '')}${query}`;
  }
  if (r.authority === undefined) return { ...request, path };
  const headers = copyHeaders(request.headers);
  headers.host = r.authority;
  return { ...request, path, authority: r.authority, headers };
}

/** The redirect answer: Location built from the request and the route's redirect, status 301 unless said. */
export function redirectAnswer(request: WeftRequest, r: Redirect): WeftResponse {
  const scheme = r.scheme ?? request.scheme;
  const authority = r.authority ?? request.authority;
  const colon = authority.lastIndexOf(':');
  const host = colon > 0 && !authority.endsWith(']') ? authority.slice(0, colon) : authority;
  let hostPort = authority;
  if (r.port !== undefined) hostPort = `${host}:${r.port}`;
  else if (r.derivePort === 'FROM_PROTOCOL_DEFAULT') hostPort = host;
  // Istio: a redirect's uri replaces the whole path, however it was matched; the query stays.
  const path = r.uri === undefined ? request.path : `${r.uri}${splitPath(request.path)[1]}`;
  return {
    status: r.redirectCode ?? 301,
    headers: { location: `${scheme}://${hostPort}${path}` },
    body: null,
  };
}
