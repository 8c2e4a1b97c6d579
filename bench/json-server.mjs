// The answer every bench client reads, served by a bare node:http server on 127.0.0.1 in the calling process.
import { createServer } from 'node:http';

/** The bench's 61-byte JSON answer. */
export const ANSWER = JSON.stringify({ message: 'hello from the weft bench', id: 123456, ok: true });

/**
 * A bare node:http server answering every request with ANSWER; resolves with its port and a close().
 * `keepAliveTimeout` (ms): how long an idle connection stays open (Node's default, 5 s, unless given).
 */
export async function listenJson({ keepAliveTimeout } = {}) {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
    res.end(ANSWER);
  });
  if (keepAliveTimeout !== undefined) server.keepAliveTimeout = keepAliveTimeout;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, close: () => server.close() };
}
