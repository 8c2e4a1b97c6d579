// What counts as a failure for a breaker: a decision the user can replace, apart from the breaker that acts on it.
import { isWeftError, type WeftRequest, type WeftResponse } from '@weft/core';
import { readAll } from '../../adapters/body.js';

/**
 * Decides which outcomes of a call count against its destination's breaker. Either part may be
 * left out to keep the default. A 4xx response is the caller's mistake and is never asked about:
 * it never counts, whatever the classifier would say.
 */
export interface FailureClassifier {
  /**
   * Does this response count as a failure? Default: status 500 and above. May be async, to read
   * the body of an API that answers 200 with an error envelope (see `bufferBody`).
   */
  response?(response: WeftResponse, request: WeftRequest): boolean | Promise<boolean>;
  /**
   * Does this error count as a failure? Default: the upstream's failures (connect, reset, timeout,
   * protocol) and errors weft does not know; never the caller's abort or the mesh's own refusals
   * (no route, no healthy endpoint, pool overflow, closed mesh).
   */
  error?(error: unknown, request: WeftRequest): boolean;
}

/** The default response rule: 5xx is a failure. */
export const isServerError = (response: WeftResponse): boolean => response.status >= 500;

/** The default error rule: what the upstream did counts; what the caller or the mesh did does not. */
export function isUpstreamFailure(error: unknown): boolean {
  if (!isWeftError(error)) return true;
  switch (error.code) {
    case 'WEFT_ERR_UPSTREAM_CONNECT':
    case 'WEFT_ERR_PEER_IDENTITY':
    case 'WEFT_ERR_UPSTREAM_RESET':
    case 'WEFT_ERR_UPSTREAM_FAILURE':
    case 'WEFT_ERR_TIMEOUT':
      return true;
    default:
      return false;
  }
}

/**
 * Reads a response's whole body for a classifier and puts it back as bytes, so the caller still
 * gets it: `response: async (res) => JSON.parse((await bufferBody(res)).toString()).error !== undefined`.
 */
export async function bufferBody(response: WeftResponse): Promise<Buffer> {
  const bytes = await readAll(response.body);
  response.body = bytes;
  return bytes;
}
