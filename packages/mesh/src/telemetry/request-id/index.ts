// Envoy's x-request-id: made at the edge for a request without one, then carried unchanged, with tracing on or off.
import type { Handler, Layer, ServerCallContext } from '@weft/core';
import type { ClientCallContext } from '../../client/context.js';
import { type InboundCall, inboundCalls } from '../../server/inbound.js';
import { newRequestId, REQUEST_ID_HEADER } from '../tracing/propagation.js';

/**
 * The outbound side: a call carries the caller's own x-request-id if it set one, else the id of
 * the inbound call it is made while handling (AsyncLocalStorage), else a new one (a call made
 * outside any inbound call is itself an edge). Written into the request's own headers: a request
 * belongs to the pipeline once sent (mesh.request() sends a copy of the caller's; the adapters build theirs).
 */
export function outboundRequestIds(): Layer<ClientCallContext> {
  return {
    role: 'request-id',
    wrap(next: Handler<ClientCallContext>): Handler<ClientCallContext> {
      return (request, ctx) => {
        const headers = request.headers;
        const own = headers[REQUEST_ID_HEADER];
        if (typeof own !== 'string' || own === '') {
          headers[REQUEST_ID_HEADER] = inboundCalls.getStore()?.requestId ?? newRequestId();
        }
        return next(request, ctx);
      };
    },
  };
}

/**
 * The inbound side: the caller's x-request-id, else a new one (this workload is the edge), written
 * into the request the application sees and kept on the call for the calls made while handling it.
 */
export function inboundRequestIds(): Layer<ServerCallContext> {
  return {
    role: 'request-id',
    wrap(next: Handler<ServerCallContext>): Handler<ServerCallContext> {
      return (request, ctx) => {
        const headers = request.headers;
        let id = headers[REQUEST_ID_HEADER];
        if (typeof id !== 'string' || id === '') {
          id = newRequestId();
          headers[REQUEST_ID_HEADER] = id;
        }
        (ctx as InboundCall).requestId = id;
        return next(request, ctx);
      };
    },
  };
}
