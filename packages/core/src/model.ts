// The HTTP request and response as weft's layers see them, independent of any HTTP library.
import type { Readable } from 'node:stream';

/** A header value as Node reports it: one string, or several for a repeated header. */
export type HeaderValue = string | string[];

/** Header names are lower-case. `undefined` values are skipped when the request is written. */
export type WeftHeaders = Record<string, HeaderValue | undefined>;

/** What a request may carry: nothing, bytes held in memory, or a stream read once. */
export type RequestBody = string | Uint8Array | Readable | null;

/** What a response carries: a stream (as a transport returns it), bytes a layer made, or nothing. */
export type ResponseBody = Readable | string | Uint8Array | null;

export interface WeftRequest {
  /** Upper-case method: `GET`, `POST`, … */
  method: string;
  /** `http` or `https`, as the caller asked. */
  scheme: 'http' | 'https';
  /** Host and optional port the caller addressed, e.g. `reviews` or `reviews:9080`: the logical service. */
  authority: string;
  /** Path and query, starting with `/`. */
  path: string;
  headers: WeftHeaders;
  body: RequestBody;
}

export interface WeftResponse {
  status: number;
  headers: WeftHeaders;
  body: ResponseBody;
}

/**
 * A copy of `headers` (its own names) for layers to write into, built one name at a time. Not `{ ...headers }`:
 * on Node 20, every name added to an object a spread made costs about 0.5 µs (measured; the
 * copy gets a map with no transitions to reuse), and the pipeline adds several (x-request-id,
 * the trace headers).
 */
export function copyHeaders(headers: WeftHeaders): WeftHeaders {
  const out: WeftHeaders = {};
  for (const name in headers) if (Object.hasOwn(headers, name)) out[name] = headers[name];
  return out;
}
