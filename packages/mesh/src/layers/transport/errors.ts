// Maps what undici and the socket report into weft's typed errors, so no untyped rejection reaches a caller.
import { type CallContext, ERROR_CODES, isWeftError, WeftError, type WeftErrorCode } from '@weft/core';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ECONNABORTED']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const CLOSED_CODES = new Set(['UND_ERR_CLOSED', 'UND_ERR_DESTROYED']);
/** A TLS handshake that failed on the endpoint's certificate: its chain, its validity, its SPIFFE ID or its name. */
function isPeerIdentityFailure(code: string): boolean {
  return (
    code === 'ERR_WEFT_PEER_IDENTITY' ||
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    code.startsWith('UNABLE_TO_') ||
    code.startsWith('CERT_') ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT'
  );
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof cause === 'string' ? cause : '';
}

/** The WeftError for a failure of one attempt to `ctx.endpoint`; WeftErrors pass through unchanged. */
export function toWeftError(error: unknown, ctx: CallContext): WeftError {
  if (isWeftError(error)) return error;
  const endpoint = ctx.endpoint?.address;
  const target = ctx.service === undefined ? endpoint : `${ctx.service} at ${endpoint}`;
  const raw = codeOf(error);
  const why = error instanceof Error ? error.message : String(error);
  let code: WeftErrorCode;
  let message: string;
  if (CONNECT_CODES.has(raw)) {
    code = 'WEFT_ERR_UPSTREAM_CONNECT';
    message = `could not connect to ${target} (${raw})`;
  } else if (RESET_CODES.has(raw)) {
    code = 'WEFT_ERR_UPSTREAM_RESET';
    message = `connection to ${target} was reset before the response completed (${raw})`;
  } else if (TIMEOUT_CODES.has(raw)) {
    code = 'WEFT_ERR_TIMEOUT';
    message = `${target} did not answer in time (${raw})`;
  } else if ((error as { name?: string } | null)?.name === 'TimeoutError') {
    code = 'WEFT_ERR_TIMEOUT';
    message = `call to ${target} timed out by the caller's signal`;
  } else if (raw === 'UND_ERR_ABORTED' || (error as { name?: string } | null)?.name === 'AbortError') {
    code = 'WEFT_ERR_ABORTED';
    message = `call to ${target} was aborted by the caller`;
  } else if (isPeerIdentityFailure(raw)) {
    code = 'WEFT_ERR_PEER_IDENTITY';
    message = `TLS with ${target} failed: ${why}`;
  } else if (CLOSED_CODES.has(raw)) {
    code = 'WEFT_ERR_CLOSED';
    message = `call to ${target} was cut because the mesh is closing`;
  } else {
    code = 'WEFT_ERR_UPSTREAM_FAILURE';
    message = `call to ${target} failed: ${why}`;
  }
  ctx.addResponseFlag(ERROR_CODES[code].flag);
  return new WeftError(code, message, { service: ctx.service, endpoint, cause: error });
}
