// The tracing layers: the call's span and one span per attempt on the client, the inbound call's span on the server.
import {
  type Attributes,
  type Context,
  context,
  defaultTextMapGetter,
  INVALID_SPAN_CONTEXT,
  INVALID_TRACEID,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import {
  type Handler,
  isWeftError,
  type Layer,
  type ServerCallContext,
  type WeftError,
  type WeftRequest,
} from '@weft/core';
import type { ClientCallContext } from '../../client/context.js';
import { inboundCalls } from '../../server/inbound.js';
import { REQUEST_ID_HEADER, type TraceHeaderWriter } from './propagation.js';
import { UnrecordedRoot, unshared } from './sampling.js';

/** The instrumentation scope of weft's spans. */
export const TRACER_NAME = '@weft/mesh';

// Stable HTTP semantic conventions (opentelemetry.io/docs/specs/semconv/http/http-spans), and weft's own.
const METHOD = 'http.request.method';
const STATUS = 'http.response.status_code';
const RESEND_COUNT = 'http.request.resend_count';
const SERVER_ADDRESS = 'server.address';
const SERVER_PORT = 'server.port';
const URL_FULL = 'url.full';
const URL_PATH = 'url.path';
const URL_QUERY = 'url.query';
const URL_SCHEME = 'url.scheme';
const PEER_ADDRESS = 'network.peer.address';
const PEER_PORT = 'network.peer.port';
const CLIENT_ADDRESS = 'client.address';
const PROTOCOL_VERSION = 'network.protocol.version';
const ERROR_TYPE = 'error.type';
/** Envoy's tag for the request id (`guid:x-request-id`), so Istio users find traces by it as before. */
const REQUEST_ID = 'guid:x-request-id';
const DESTINATION_SERVICE = 'weft.destination.service';
const DESTINATION_SUBSET = 'weft.destination.subset';
const ROUTE_NAME = 'weft.route.name';
const VIRTUAL_SERVICE = 'weft.route.virtual_service';
const RESPONSE_FLAGS = 'weft.response_flags';
const LOCAL_SERVICE = 'weft.service';

/** The methods semconv knows; any other is reported as `_OTHER`. */
const KNOWN_METHODS = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);
const methodOf = (method: string): string => (KNOWN_METHODS.has(method) ? method : '_OTHER');

/** `host` and `port` of an authority (`reviews:9080`, `[::1]:80`); the port is undefined when absent. */
function splitAuthority(authority: string): [string, number | undefined] {
  const colon = authority.lastIndexOf(':');
  if (colon === -1 || authority.endsWith(']')) return [authority, undefined];
  const port = Number(authority.slice(colon + 1));
  return Number.isInteger(port) ? [authority.slice(0, colon), port] : [authority, undefined];
}

/** What the tracing layers of one mesh share: the tracer and the formats calls are written and read in. */
export interface TracingParts {
  tracer: Tracer;
  /**
   * The span the tracer would make without recording it, made without the tracer; `undefined`
   * when the tracer must make it (see OwnSampling: only for the SDK startTracing started).
   */
  unrecorded?: ((parent: Context) => Span | undefined) | undefined;
  /**
   * Whether the tracer is the API's no-op (no SDK registered, yet): a span started in the root
   * context would then be the empty one, which carries nothing, and is not made at all.
   */
  noop: () => boolean;
  /** Writes the configured formats on outbound calls. */
  inject: TraceHeaderWriter;
  /** Reads every format from inbound calls. */
  extract: TextMapPropagator;
}

/** The inbound call's trace as the outbound side reads it (set on InboundCall by the server layer). */
export interface TracedCall {
  traceContext: Context | undefined;
  requestId: string | undefined;
}

/** The status of a span for a response: an error from 5xx on the client side, as semconv says; servers own 4xx. */
function endWithResponse(span: Span, status: number, serverSide: boolean): void {
  span.setAttribute(STATUS, status);
  if (status >= 500 || (!serverSide && status >= 400)) {
    span.setAttribute(ERROR_TYPE, String(status));
    if (status >= 500 || !serverSide) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/**
 * Whether a span made without a parent has a trace to carry on: weft's own new roots and the no-op's
 * empty span are known by their class and identity, an SDK's by its ids (an SDK makes valid ones; no
 * need for the full check's regexes).
 */
function hasContext(span: Span): boolean {
  if (span instanceof UnrecordedRoot) return true;
  const sc = span.spanContext();
  return sc !== INVALID_SPAN_CONTEXT && sc.traceId !== INVALID_TRACEID;
}

/** The events a refusal leaves on the call's (or inbound call's) span: a breaker open, a policy denial. */
function refusalEvent(span: Span, error: WeftError): void {
  if (error.code === 'WEFT_ERR_CIRCUIT_OPEN') {
    span.addEvent('weft.breaker.open', { [DESTINATION_SERVICE]: error.service ?? '' });
  } else if (error.code === 'WEFT_ERR_DENIED') {
    span.addEvent('weft.policy.denied', { 'weft.reason': error.message });
  } else if (error.code === 'WEFT_ERR_UNAUTHENTICATED') {
    span.addEvent('weft.policy.unauthenticated', { 'weft.reason': error.message });
  }
}

/** Ends a span with an error; `events` on the call's and the inbound call's spans (an attempt's leaves them to its call). */
function endWithError(span: Span, error: unknown, events: boolean): void {
  if (isWeftError(error)) {
    span.setAttribute(ERROR_TYPE, error.code);
    span.setAttribute(STATUS, error.status);
    if (events) refusalEvent(span, error);
  } else {
    span.setAttribute(ERROR_TYPE, (error as { name?: string } | null)?.name ?? 'Error');
  }
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.end();
}

/**
 * The call's span (INTERNAL: the logical call, retries and hedges included). Its parent is the
 * application's active span if it made one, else the inbound call this call is made while handling
 * (AsyncLocalStorage), so traces continue across a hop with no application code. The call's
 * x-request-id, tagged on the span, is the request-id layer's (telemetry/request-id).
 */
export function traceCalls(parts: TracingParts): Layer<ClientCallContext> {
  const { tracer, unrecorded, noop } = parts;
  return {
    role: 'trace-call',
    wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
      return (request, ctx) => {
        const inbound = inboundCalls.getStore() as TracedCall | undefined;
        let parent = context.active();
        if (parent === ROOT_CONTEXT || trace.getSpan(parent) === undefined) {
          parent = inbound?.traceContext ?? parent;
        }
        // No SDK and nothing came in: no trace to carry (the x-request-id still goes on).
        if (parent === ROOT_CONTEXT && noop()) return next(request, ctx);
        const span =
          unrecorded?.(parent) ??
          tracer.startSpan(`${methodOf(request.method)} ${request.authority}`, { kind: SpanKind.INTERNAL }, parent);
        const recording = span.isRecording();
        // With nothing to carry (no SDK, no inbound trace, no baggage) the attempts have nothing to do.
        // The span and its parent are kept apart: a Context holding both is made for recorded calls only.
        if (recording || parent !== ROOT_CONTEXT || hasContext(span)) {
          ctx.traceParent = parent;
          ctx.traceSpan = span;
        }
        if (!recording) return next(request, ctx);
        const [host, port] = splitAuthority(request.authority);
        span.setAttribute(METHOD, methodOf(request.method));
        span.setAttribute(SERVER_ADDRESS, host);
        if (port !== undefined) span.setAttribute(SERVER_PORT, port);
        // Set by the request-id layer above, unless the mesh's requestId option is off.
        const requestId = request.headers[REQUEST_ID_HEADER];
        if (typeof requestId === 'string') span.setAttribute(REQUEST_ID, unshared(requestId));
        return next(request, ctx).then(
          (response) => {
            callAttributes(span, ctx);
            endWithResponse(span, response.status, false);
            return response;
          },
          (error: unknown) => {
            callAttributes(span, ctx);
            endWithError(span, error, true);
            throw error;
          },
        );
      };
    },
  };
}

/** What routing and balancing decided, known once the call is done. */
function callAttributes(span: Span, ctx: ClientCallContext): void {
  if (ctx.service !== undefined) span.setAttribute(DESTINATION_SERVICE, ctx.service);
  if (ctx.subset !== undefined) span.setAttribute(DESTINATION_SUBSET, ctx.subset);
  const route = ctx.route;
  if (route !== undefined) {
    span.setAttribute(VIRTUAL_SERVICE, route.virtualService);
    if (route.name !== undefined) span.setAttribute(ROUTE_NAME, route.name);
  }
  if (ctx.responseFlags !== '') span.setAttribute(RESPONSE_FLAGS, ctx.responseFlags);
  if (ctx.attempt > 1) span.setAttribute(RESEND_COUNT, ctx.attempt - 1);
}

/**
 * One CLIENT span per attempt, the child of the call's span, written into the attempt's headers
 * in the configured formats: the server's span is the child of the attempt that reached it.
 */
export function traceAttempts(parts: TracingParts): Layer<ClientCallContext> {
  const { tracer, inject } = parts;
  return {
    role: 'trace-attempt',
    wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
      return (request, ctx) => {
        const callSpan = ctx.traceSpan as Span | undefined;
        if (callSpan === undefined) return next(request, ctx);
        const parent = ctx.traceParent as Context;
        // An unsampled or no-op call: no attempt spans, but what came in (trace, baggage) goes on.
        if (!callSpan.isRecording()) {
          inject.write(request.headers, callSpan.spanContext(), parent);
          return next(request, ctx);
        }
        const method = methodOf(request.method);
        const resend = ctx.attempt - 1;
        const attributes: Attributes = {
          [METHOD]: method,
          [URL_FULL]: `${request.scheme}://${request.authority}${request.path}`,
          [PROTOCOL_VERSION]: '1.1',
        };
        if (resend > 0) attributes[RESEND_COUNT] = resend;
        const span = tracer.startSpan(method, { kind: SpanKind.CLIENT, attributes }, trace.setSpan(parent, callSpan));
        inject.write(request.headers, span.spanContext(), parent);
        return next(request, ctx).then(
          (response) => {
            attemptAttributes(span, ctx);
            endWithResponse(span, response.status, false);
            return response;
          },
          (error: unknown) => {
            attemptAttributes(span, ctx);
            endWithError(span, error, false);
            throw error;
          },
        );
      };
    },
  };
}

function attemptAttributes(span: Span, ctx: ClientCallContext): void {
  // Outlier detection ejected the endpoint on this attempt's outcome: an event where it happened.
  if (ctx.ejected !== undefined) {
    span.addEvent('weft.outlier.ejected', { 'weft.endpoint': ctx.ejected });
    ctx.ejected = undefined;
  }
  const endpoint = ctx.endpoint;
  if (endpoint !== undefined) {
    span.setAttribute(SERVER_ADDRESS, endpoint.host);
    span.setAttribute(SERVER_PORT, endpoint.port);
    span.setAttribute(PEER_ADDRESS, endpoint.host);
    span.setAttribute(PEER_PORT, endpoint.port);
  }
  if (ctx.service !== undefined) span.setAttribute(DESTINATION_SERVICE, ctx.service);
  if (ctx.subset !== undefined) span.setAttribute(DESTINATION_SUBSET, ctx.subset);
  if (ctx.responseFlags !== '') span.setAttribute(RESPONSE_FLAGS, ctx.responseFlags);
}

/**
 * The inbound call's SERVER span, its parent read from whichever format the caller sent, kept
 * on the call for the outbound calls made while handling it (its x-request-id is the request-id
 * layer's, above this one).
 */
export function traceInbound(parts: TracingParts): Layer<ServerCallContext> {
  const { tracer, extract, inject, unrecorded, noop } = parts;
  return {
    role: 'trace-inbound',
    wrap(next: Handler<ServerCallContext>): Handler<ServerCallContext> {
      return (request, ctx) => {
        const call = ctx as ServerCallContext & TracedCall;
        const headers = request.headers;
        const parent = inject.received(extract.extract(ROOT_CONTEXT, headers, defaultTextMapGetter), headers);
        if (parent === ROOT_CONTEXT && noop()) return next(request, ctx);
        const method = methodOf(request.method);
        const span = unrecorded?.(parent) ?? tracer.startSpan(method, { kind: SpanKind.SERVER }, parent);
        const recording = span.isRecording();
        if (recording || parent !== ROOT_CONTEXT || hasContext(span)) call.traceContext = trace.setSpan(parent, span);
        if (!recording) return next(request, ctx);
        serverAttributes(span, request, ctx, method, call.requestId);
        return next(request, ctx).then(
          (response) => {
            endWithResponse(span, response.status, true);
            return response;
          },
          (error: unknown) => {
            endWithError(span, error, true);
            throw error;
          },
        );
      };
    },
  };
}

function serverAttributes(
  span: Span,
  request: WeftRequest,
  ctx: ServerCallContext,
  method: string,
  requestId: string | undefined,
): void {
  const path = request.path;
  const query = path.indexOf('?');
  const [host, port] = splitAuthority(request.authority);
  span.setAttribute(METHOD, method);
  span.setAttribute(URL_SCHEME, request.scheme);
  span.setAttribute(URL_PATH, query === -1 ? path : path.slice(0, query));
  if (query !== -1) span.setAttribute(URL_QUERY, path.slice(query + 1));
  span.setAttribute(SERVER_ADDRESS, host);
  span.setAttribute(SERVER_PORT, port ?? ctx.localPort);
  if (ctx.remoteAddress !== undefined) span.setAttribute(CLIENT_ADDRESS, ctx.remoteAddress);
  span.setAttribute(PROTOCOL_VERSION, '1.1');
  if (requestId !== undefined) span.setAttribute(REQUEST_ID, unshared(requestId));
  span.setAttribute(LOCAL_SERVICE, ctx.localService);
  if (ctx.peer !== undefined) span.setAttribute('weft.peer.principal', ctx.peer.principal);
}
