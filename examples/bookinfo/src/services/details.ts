// The details service (Fastify): a book's author, year, publisher and ISBNs. Calls no one.
import type { Mesh } from '@weft/mesh';
import { type FastifyInstance, fastify } from 'fastify';
import { bookDetails, productId } from '../data.js';

export async function detailsApp(mesh: Mesh): Promise<FastifyInstance> {
  const app = fastify();
  await app.register(mesh.fastify());
  app.get('/health', async () => ({ status: 'Details is healthy' }));
  app.get<{ Params: { id: string } }>('/details/:id', async (request, reply) => {
    const id = productId(request.params.id);
    if (id === undefined) return reply.code(400).send({ error: 'please provide numeric product id' });
    return bookDetails(id);
  });
  return app;
}
