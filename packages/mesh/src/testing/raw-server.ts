// A loopback server that keeps each request's head as read off the socket, for tests of what goes on the wire. Not part of the build.
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';

/** Answers every request with 204 and keeps each request's head, as bytes read off the socket. */
export async function rawServer(): Promise<{ server: Server; port: number; heads: string[] }> {
  const heads: string[] = [];
  const server = createServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let end = buffered.indexOf('\r\n\r\n');
      while (end !== -1) {
        heads.push(buffered.slice(0, end));
        buffered = buffered.slice(end + 4);
        socket.write('HTTP/1.1 204 No Content\r\n\r\n');
        end = buffered.indexOf('\r\n\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port, heads };
}

/** The header lines of a request head, as `name: value`, in order. */
export const headerLines = (head: string): string[] => head.split('\r\n').slice(1);
