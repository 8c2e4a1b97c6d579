// What the server adapters share: the inbound pipeline, the request view of a Node request, and answers the mesh writes itself.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { type Handler, isWeftError, ServerCallContext, type WeftRequest, type WeftResponse } from '@weft/core';
import { buildServerPipeline, type ServerPipelineParts } from './pipeline.js';

declare module 'node:http' {
  interface IncomingMessage {
    /** The mesh's view of this inbound call, set by weft's Express middleware and Fastify plugin. */
    weft?: InboundCall;
  }
}

/**
 * The context of one inbound call as the adapters keep it: `forwarded` turns true when the
 * call has been handed to the application, after which only the application answers.
 */
export class InboundCall extends ServerCallContext {
  forwarded = false;
  #settle: ((response: WeftResponse) => void) | undefined = undefined;

  /** Called by the terminal handler as it hands the call to the application. */
  forward(settle: (response: WeftResponse) => void): void {
    this.forwarded = true;
    this.#settle = settle;
  }

  /** Called by the adapter once the application's response is sent (or the client went away). */
  finish(status: number): void {
    const settle = this.#settle;
    if (settle === undefined) return;
    this.#settle = undefined;
    settle({ status, headers: NO_HEADERS, body: null });
  }
}

const NO_HEADERS = Object.freeze({});

/** The application as the pipeline's terminal: resolves when the adapter reports the response sent. */
export function applicationTerminal(forward: (call: InboundCall) => void): Handler<ServerCallContext> {
  return (_request, ctx) =>
    new Promise<WeftResponse>((resolve) => {
      const call = ctx as InboundCall;
      call.forward(resolve);
      forward(call);
    });
}

/** Ends the call of a response once it is sent or its client went away; one listener shared by every response. */
export function onResponseClose(this: ServerResponse): void {
  this.req.weft?.finish(this.statusCode);
}

/** The parts of the mesh an inbound adapter needs. */
export class Inbound {
  readonly parts: ServerPipelineParts;

  constructor(parts: ServerPipelineParts) {
    this.parts = parts;
  }

  /** Builds the pipeline once for an adapter, around the adapter's way of reaching the application. */
  pipeline(forward: (call: InboundCall) => void): Handler<ServerCallContext> {
    return buildServerPipeline(this.parts, applicationTerminal(forward));
  }

  newCall(req: IncomingMessage): InboundCall {
    const call = new InboundCall();
    call.localService = this.parts.localService;
    call.remoteAddress = req.socket.remoteAddress;
    return call;
  }
}

/** The request view of a Node request. Headers are Node's own object (already lower-case), not a copy. */
export function requestOf(req: IncomingMessage): WeftRequest {
  return {
    method: req.method ?? 'GET',
    scheme: (req.socket as TLSSocket).encrypted ? 'https' : 'http',
    authority: req.headers.host ?? '',
    path: req.url ?? '/',
    headers: req.headers,
    body: null,
  };
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

/** Writes an answer a layer gave instead of the application. */
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
