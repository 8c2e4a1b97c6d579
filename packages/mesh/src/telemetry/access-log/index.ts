// Access logs: one JSON line per call through pino, with the fields of Istio's default JSON access log (Envoy's).
import type { Readable } from 'node:stream';
import {
  type CallContext,
  type Handler,
  isWeftError,
  type Layer,
  type ServerCallContext,
  type WeftRequest,
} from '@weft/core';
import { pino } from 'pino';

/** What an access log line is written to: pino's `info(fields, message)`. */
export interface AccessLogger {
  info(fields: object, message?: string): void;
}

export interface AccessLogOptions {
  /** The share of calls logged, 0 to 1 (1: every call). */
  sample: number;
  logger: AccessLogger;
  /** Uniform numbers in [0, 1) for sampling; `Math.random` by default. */
  random?: () => number;
}

/** Istio's default JSON access log, field by field, as weft fills it; `null` where a value is not known. */
export interface AccessLogLine {
  start_time: string;
  /** `source` for a call this workload made, `destination` for one it received (Istio's reporter). */
  reporter: 'source' | 'destination';
  method: string;
  path: string;
  protocol: 'HTTP/1.1';
  response_code: number;
  /** Envoy's response flags (`UH`, `UO`, `URX,UF`…), `-` for none. */
  response_flags: string;
  /** weft's error code when the call ended in one. */
  response_code_details: string | null;
  bytes_received: number | null;
  bytes_sent: number | null;
  /** ms from the call's start to its end (the last byte of the response, when it was streamed). */
  duration: number;
  /** ms until the response headers (Envoy's x-envoy-upstream-service-time). */
  upstream_service_time: number | null;
  x_forwarded_for: string | null;
  user_agent: string | null;
  request_id: string | null;
  authority: string;
  upstream_host: string | null;
  upstream_cluster: string | null;
  downstream_remote_address: string | null;
  /** The caller's SPIFFE ID as mTLS proved it (server side), or this workload's (client side), when known. */
  downstream_peer_principal: string | null;
  route_name: string | null;
}

/** The default access logger: pino on stdout, where platforms collect access logs. */
export function defaultAccessLogger(): AccessLogger {
  return pino({ base: null, timestamp: false, messageKey: 'message' }, pino.destination({ fd: 1, sync: false }));
}

function header(request: WeftRequest, name: string): string | null {
  const v = request.headers[name];
  return v === undefined ? null : Array.isArray(v) ? v.join(',') : v;
}

function length(value: string | string[] | number | undefined | null): number | null {
  if (value === undefined || value === null) return null;
  const n = Number(Array.isArray(value) ? value[0] : value);
  return Number.isFinite(n) ? n : null;
}

function requestBytes(request: WeftRequest): number | null {
  const body = request.body;
  if (body === null) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return length(request.headers['content-length']);
}

function isStream(body: unknown): body is Readable {
  return body !== null && typeof body === 'object' && 'once' in body && 'pipe' in body;
}

/** Istio's cluster name for an outbound call: `outbound|<port>|<subset>|<service>`. */
function clusterOf(ctx: CallContext & { subset?: string; route?: { name?: string } }): string | null {
  if (ctx.service === undefined) return null;
  return `outbound|${ctx.endpoint?.port ?? ''}|${ctx.subset ?? ''}|${ctx.service}`;
}

/**
 * Writes a line per call (or per sampled call) when it ends: for a streamed response, when its
 * body closes, so the duration covers it. The line is built only for calls that are logged: a
 * call not sampled costs one random number. Placed outermost, next to stats, so refusals are
 * logged with their flags.
 */
export function accessLog<Ctx extends CallContext>(
  reporter: 'source' | 'destination',
  options: AccessLogOptions,
): Layer<Ctx> {
  const { sample, logger } = options;
  const random = options.random ?? Math.random;
  return {
    role: 'access-log',
    wrap(next: Handler<Ctx>): Handler<Ctx> {
      return (request, ctx) => {
        if (sample <= 0 || (sample < 1 && random() >= sample)) return next(request, ctx);
        const started = Date.now();
        const t0 = performance.now();
        const write = (status: number, code: string | null, bytesSent: number | null, headersMs: number | null) => {
          const c = ctx as CallContext & Partial<ServerCallContext> & { subset?: string; route?: { name?: string } };
          const line: AccessLogLine = {
            start_time: new Date(started).toISOString(),
            reporter,
            method: request.method,
            path: request.path,
            protocol: 'HTTP/1.1',
            response_code: status,
            response_flags: ctx.responseFlags === '' ? '-' : ctx.responseFlags,
            response_code_details: code,
            bytes_received: requestBytes(request),
            bytes_sent: bytesSent,
            duration: Math.round(performance.now() - t0),
            upstream_service_time: headersMs,
            x_forwarded_for: header(request, 'x-forwarded-for'),
            user_agent: header(request, 'user-agent'),
            request_id: header(request, 'x-request-id'),
            authority: request.authority,
            upstream_host: reporter === 'source' ? (ctx.endpoint?.address ?? null) : null,
            upstream_cluster: reporter === 'source' ? clusterOf(c) : null,
            downstream_remote_address: c.remoteAddress ?? null,
            downstream_peer_principal: c.peer?.spiffeId ?? null,
            route_name: c.route?.name ?? null,
          };
          logger.info(line);
        };
        return next(request, ctx).then(
          (response) => {
            const headersMs = Math.round(performance.now() - t0);
            // The server side learns of its answer from the Node response the application wrote.
            const res = (ctx as { res?: { getHeader(name: string): unknown } }).res;
            const bytes = length(
              (response.headers['content-length'] ?? res?.getHeader('content-length')) as string | undefined,
            );
            const body = response.body;
            if (isStream(body) && !body.destroyed && !body.readableEnded) {
              body.once('close', () => write(response.status, null, bytes, headersMs));
            } else {
              write(response.status, null, typeof body === 'string' ? Buffer.byteLength(body) : bytes, headersMs);
            }
            return response;
          },
          (error: unknown) => {
            write(isWeftError(error) ? error.status : 500, isWeftError(error) ? error.code : 'error', null, null);
            throw error;
          },
        );
      };
    },
  };
}
