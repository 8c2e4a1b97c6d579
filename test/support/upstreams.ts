// Real upstream servers on loopback for the end-to-end tests: each answers with who it is and what it got.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Upstream {
  readonly name: string;
  readonly server: Server;
  readonly address: string;
  readonly port: number;
  /** Requests this server received. */
  readonly seen: { method: string; url: string; host: string; body: string }[];
  close(): Promise<void>;
}

export type Behaviour = (req: IncomingMessage, res: ServerResponse, body: string) => void;

const echo =
  (name: string): Behaviour =>
  (req, res, body) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ name, method: req.method, url: req.url, host: req.headers.host, body }));
  };

/** Starts a node:http server on 127.0.0.1 with a free port. */
export async function startUpstream(name: string, behaviour: Behaviour = echo(name)): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', body });
      behaviour(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    server,
    address: `127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback address where nothing listens: a port that was free a moment ago. */
export async function refusingAddress(): Promise<string> {
  const u = await startUpstream('gone');
  await u.close();
  return u.address;
}
