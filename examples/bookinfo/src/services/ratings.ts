// The ratings service (Fastify): each reviewer's stars for a book. Calls no one; only reviews v2 and v3 call it.
import type { Mesh } from '@weft/mesh';
import { type FastifyInstance, fastify } from 'fastify';
import { productId, RATINGS, type RatingsResponse } from '../data.js';

export async function ratingsApp(mesh: Mesh): Promise<FastifyInstance> {
  const app = fastify();
  await app.register(mesh.fastify());
  app.get('/health', async () => ({ status: 'Ratings is healthy' }));
  app.get<{ Params: { id: string } }>('/ratings/:id', async (request, reply) => {
    const id = productId(request.params.id);
    if (id === undefined) return reply.code(400).send({ error: 'please provide numeric product ID' });
    const answer: RatingsResponse = { id, ratings: { ...RATINGS } };
    return answer;
  });
  return app;
}
