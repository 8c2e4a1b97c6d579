// The Fastify integration: a plugin whose hook runs each inbound call through the server pipeline.
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Inbound, InboundCall, WriteAnswer } from '../server/inbound.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The mesh's view of this inbound call (set by weft's Fastify plugin). */
    readonly weft: InboundCall | null;
  }
}

const answerOnReply: WriteAnswer = (call, answer) => {
  (call.native as FastifyReply).code(answer.status).headers(answer.headers).send(answer.body);
};

/**
 * A Fastify 5 plugin (`await fastify.register(mesh.fastify())`), not encapsulated, so its
 * hook sees every route. `onRequest` runs the server pipeline; the call continues to its
 * route when the pipeline reaches the application, and the response's `close` ends it
 * (one shared listener: cheaper than Fastify's onResponse or onRequestAbort hooks).
 */
export function meshFastify(inbound: Inbound): FastifyPluginCallback {
  const plugin: FastifyPluginCallback = (fastify, _options, registered) => {
    // Read through from the raw request, where the call is set before the pipeline runs (the
    // route may run within done(), before run() returns).
    fastify.decorateRequest('weft', {
      getter(this: FastifyRequest) {
        return this.raw.weft ?? null;
      },
    });
    fastify.addHook('onRequest', (request, reply, done) => {
      inbound.run(request.raw, reply.raw, done, answerOnReply, reply);
    });
    registered();
  };
  return fp(plugin, { fastify: '5.x', name: '@weft/mesh' });
}
