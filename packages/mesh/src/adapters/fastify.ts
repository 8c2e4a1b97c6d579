// The Fastify integration: a plugin whose hooks run each inbound call through the server pipeline.

import { debuglog } from 'node:util';
import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { errorAnswer, type Inbound, type InboundCall, requestOf } from '../server/inbound.js';

const debug = debuglog('weft');

declare module 'fastify' {
  interface FastifyRequest {
    /** The mesh's view of this inbound call (set by weft's Fastify plugin). */
    weft: InboundCall | null;
  }
}

interface FastifyCall extends InboundCall {
  done: (error?: Error) => void;
}

/**
 * A Fastify 5 plugin (`await fastify.register(mesh.fastify())`), not encapsulated, so its
 * hooks see every route. `onRequest` runs the server pipeline; the call continues to its
 * route when the pipeline reaches the application, and `onResponse` closes it.
 */
export function meshFastify(inbound: Inbound): FastifyPluginCallback {
  const handler = inbound.pipeline((c) => (c as FastifyCall).done());
  const plugin: FastifyPluginCallback = (fastify, _options, registered) => {
    fastify.decorateRequest('weft', null);
    fastify.addHook('onRequest', (request, reply, done) => {
      const call = inbound.newCall(request.raw) as FastifyCall;
      call.done = done;
      request.weft = call;
      handler(requestOf(request.raw), call).then(
        (answer) => {
          if (!call.forwarded) {
            reply.code(answer.status).headers(answer.headers).send(answer.body);
          }
        },
        (error: unknown) => {
          if (call.forwarded) {
            debug('inbound layer failed after the application answered: %o', error);
            return;
          }
          const answer = errorAnswer(error);
          reply.code(answer.status).headers(answer.headers).send(answer.body);
        },
      );
    });
    fastify.addHook('onResponse', (request, reply, done) => {
      request.weft?.finish?.(reply.statusCode);
      done();
    });
    fastify.addHook('onRequestAbort', (request, done) => {
      request.weft?.finish?.(499);
      done();
    });
    registered();
  };
  return fp(plugin, { fastify: '5.x', name: '@weft/mesh' });
}
