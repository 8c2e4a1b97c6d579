// What the server adapters share: the inbound pipeline, the request view of a Node request, and answers the mesh writes itself.

import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { debuglog } from 'node:util';
import { type Context, context } from '@opentelemetry/api';
import {
  type Handler,
  isWeftError,
  ServerCallContext,
  WeftError,
  type WeftRequest,
  type WeftResponse,
} from '@weft/core';
import { type EscapedSlashes, normalizePath, type PathNormalization } from '../layers/authz/normalize.js';
import { DEADLINE_HEADER, PEER_HEADER } from '../layers/transport/index.js';
import { peerIdentity } from './front.js';
import { buildServerPipeline, type ServerPipelineParts } from './pipeline.js';

declare module 'node:http' {
  interface IncomingMessage {
    /** The mesh's view of this inbound call, set by weft's Express middleware and Fastify plugin. */
    weft?: InboundCall;
  }
}

const debug = debuglog('weft');

/** The inbound call being handled, for the outbound calls made while handling it (deadline propagation). */
export const inboundCalls = new AsyncLocalStorage<InboundCall>();
const noop = (): void => {};

/**
 * The context of one inbound call as the adapters keep it: `forwarded` turns true when the
 * call has been handed to the application, after which only the application answers.
 */
export class InboundCall extends ServerCallContext {
  forwarded = false;
  /** The Node response the call is answered on. */
  res: ServerResponse | undefined = undefined;
  /** The adapter's own handle on the call (Fastify's reply), for its way of answering. */
  native: unknown = undefined;
  /** The framework's continuation: Express's next(), Fastify's hook done(). Used once, then dropped. */
  proceed: () => void = noop;
  #settle: ((response: WeftResponse) => void) | undefined = undefined;
  /** With tracing or x-request-id on: the application always runs inside this call's context, for the calls it makes. */
  inContext = false;
  /** The call's trace (an OpenTelemetry Context holding its span), set by the tracing layer. */
  traceContext: Context | undefined = undefined;
  /** The call's x-request-id (its own, or made here at the edge), set by the request-id layer. */
  requestId: string | undefined = undefined;

  /** Hands the call to the application; the pipeline's terminal resolves when `finish` is called. */
  forward(settle: (response: WeftResponse) => void): void {
    this.forwarded = true;
    this.#settle = settle;
    // The response's 'close' ends the call; it also fires when the client goes away. The listener
    // holds the call rather than finding it through `res.req.weft`: under Express 5 every request
    // and response has a hidden class of its own, so each property read on them misses V8's caches
    // (docs/performance.md, "Express"), and a closure costs less than those two reads.
    const res = this.res;
    if (res !== undefined) res.on('close', () => this.finish(res.statusCode));
    // Drop the continuation once used: holding Fastify's done() kept each request's objects
    // alive into V8's old generation (measured: 5-6 full GCs in 4 s instead of 1 under load).
    const proceed = this.proceed;
    this.proceed = noop;
    // With a propagated deadline, the application runs inside this call's context, so the calls it
    // makes inherit what is left of it. Without one there is nothing to inherit, and the process is
    // spared AsyncLocalStorage's per-promise cost.
    // With tracing or x-request-id on it always runs inside it when the workload can call out (the
    // trace and x-request-id go on with the calls it makes). With a trace it also runs inside the trace's
    // OpenTelemetry context, so the application's own spans nest under the call's when an SDK
    // registered a context manager (without one, `context.with` only calls).
    const traced = this.traceContext;
    if (this.deadline === Number.POSITIVE_INFINITY && !this.inContext) {
      if (traced === undefined) proceed();
      else context.with(traced, proceed);
    } else if (traced === undefined) inboundCalls.run(this, proceed);
    else context.with(traced, runInCall, undefined, this, proceed);
  }

  /** Called once the application's response is sent or its client went away. */
  finish(status: number): void {
    const settle = this.#settle;
    if (settle === undefined) return;
    this.#settle = undefined;
    settle({ status, headers: NO_HEADERS, body: null });
  }
}

const NO_HEADERS = Object.freeze({});

function runInCall(call: InboundCall, proceed: () => void): void {
  inboundCalls.run(call, proceed);
}

/** A path that normalisation could change: a percent sign, a backslash, a dot segment or a double slash. */
const MAY_NEED_NORMALIZING = /%|\\|\/\.|\/\//;

/** The application as the pipeline's terminal: resolves when the response has been sent. */
const applicationTerminal: Handler<ServerCallContext> = (_request, ctx) =>
  new Promise<WeftResponse>((resolve) => (ctx as InboundCall).forward(resolve));

/** How an adapter writes an answer the pipeline gave instead of the application. */
export type WriteAnswer = (call: InboundCall, answer: WeftResponse) => void;

/** The inbound side of a mesh as the server adapters see it: the server pipeline, built once. */
export class Inbound {
  readonly #handler: Handler<ServerCallContext>;
  readonly #localService: string;
  readonly #inboundDeadlines: 'mesh' | 'any' | 'none';
  readonly #normalization: PathNormalization;
  readonly #escapedSlashes: EscapedSlashes;
  /** Whether an inbound call has something for the calls made while handling it: a trace, an x-request-id. */
  readonly #carries: boolean;
  readonly #mayCallOut: () => boolean;

  constructor(parts: ServerPipelineParts) {
    this.#carries = parts.tracing !== undefined || parts.requestId;
    this.#mayCallOut = parts.mayCallOut;
    this.#inboundDeadlines = parts.inboundDeadlines;
    this.#normalization = parts.pathNormalization;
    this.#escapedSlashes = parts.escapedSlashes;
    this.#handler = buildServerPipeline(parts, applicationTerminal);
    this.#localService = parts.localService;
  }

  /**
   * Runs one inbound call through the pipeline. `proceed` continues to the application;
   * `write` answers for the mesh when a layer refuses the call. Returns the call's context.
   */
  run(
    req: IncomingMessage,
    res: ServerResponse,
    proceed: () => void,
    write: WriteAnswer,
    native?: unknown,
  ): InboundCall {
    // Each of req's properties is read once (see forward() on Express's hidden classes).
    const socket = req.socket;
    const headers = req.headers;
    const call = new InboundCall();
    call.localService = this.#localService;
    call.remoteAddress = socket.remoteAddress;
    call.localPort = socket.localPort ?? 0;
    call.peer = peerIdentity(socket);
    call.res = res;
    call.proceed = proceed;
    call.inContext = this.#carries && this.#mayCallOut();
    const trust = this.#inboundDeadlines;
    if (trust !== 'none') {
      const header = headers[DEADLINE_HEADER];
      if (typeof header === 'string' && (trust === 'any' || headers[PEER_HEADER] !== undefined)) {
        const ms = Number(header);
        if (Number.isFinite(ms) && ms > 0) call.deadline = Date.now() + ms;
      }
    }
    call.native = native;
    req.weft = call;
    // Istio's path normalisation: what authorization matches is what the application routes on.
    let url = req.url ?? '/';
    if (this.#normalization !== 'NONE' && MAY_NEED_NORMALIZING.test(url)) {
      const normalized = normalizePath(url, this.#normalization, this.#escapedSlashes);
      if ('rejected' in normalized) {
        write(
          call,
          errorAnswer(
            new WeftError('WEFT_ERR_REQUEST_INVALID', `the request path was refused: ${normalized.rejected}`),
          ),
        );
        return call;
      }
      const rest = url.search(/[?#]/);
      url = rest === -1 ? normalized.path : normalized.path + url.slice(rest);
      req.url = url;
    }
    // The request view of the Node request: its headers are Node's own object (already lower-case), not a copy.
    const request: WeftRequest = {
      method: req.method ?? 'GET',
      scheme: (socket as TLSSocket).encrypted ? 'https' : 'http',
      authority: headers.host ?? '',
      path: url,
      headers,
      body: null,
    };
    this.#handler(request, call).then(
      (answer) => {
        if (!call.forwarded) write(call, answer);
      },
      (error: unknown) => {
        if (!call.forwarded) write(call, errorAnswer(error));
        else debug('inbound layer failed after the application answered: %o', error);
      },
    );
    return call;
  }
}

/** A typed error as an HTTP answer: its status, `x-weft-error: CODE`, and a JSON body saying why. */
export function errorAnswer(error: unknown): { status: number; headers: Record<string, string>; body: string } {
  const code = isWeftError(error) ? error.code : 'WEFT_ERR_UPSTREAM_FAILURE';
  const status = isWeftError(error) ? error.status : 500;
  const message = error instanceof Error ? error.message : String(error);
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-weft-error': code },
    body: JSON.stringify({ error: { code, message } }),
  };
}

/** Writes an answer a layer gave instead of the application, on the Node response. */
export function writeAnswer(res: ServerResponse, answer: WeftResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = answer.status;
  for (const name in answer.headers) {
    const value = answer.headers[name];
    if (value !== undefined) res.setHeader(name, value);
  }
  const body = answer.body;
  if (body === null) res.end();
  else if (typeof body === 'string' || body instanceof Uint8Array) res.end(body);
  else body.pipe(res);
}
