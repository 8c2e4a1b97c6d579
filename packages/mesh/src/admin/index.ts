// The admin endpoint: a small HTTP server per mesh, on loopback by default, like Envoy's admin port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WeftError } from '@weft/core';
import type { PolicySnapshot } from '@weft/policy';
import { type Credentials, inspectCertificate } from '@weft/security';

export interface AdminOptions {
  /** Address to bind; `127.0.0.1` by default (the admin endpoint shows the mesh's policy and state: keep it local). */
  host?: string;
  /** Port; 0 (the default) picks a free one. Envoy's own is 15000. */
  port?: number;
}

export interface AdminServer {
  /** `http://host:port` */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** What the admin endpoint reads of its mesh, each when asked. */
export interface AdminSource {
  readonly service: string;
  readonly namespace: string;
  policy(): PolicySnapshot;
  /** Every destination: endpoints with outlier state, pool counts, breakers, open connection pools. */
  clusters(): unknown;
  stats(): unknown;
  identity(): Credentials | undefined;
  /** Prometheus text, when the mesh has metrics. */
  metrics?: () => Promise<{ contentType: string; text: string }>;
  /** False once the mesh is closing. */
  ready(): boolean;
}

const ROUTES = ['/config_dump', '/clusters', '/stats', '/stats/prometheus', '/certs', '/ready', '/healthz'] as const;

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function text(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function certs(credentials: Credentials | undefined): unknown {
  if (credentials === undefined) return { identity: null, reason: 'security is off for this mesh' };
  const chain = inspectCertificate(credentials.chainPem);
  const roots = inspectCertificate(credentials.rootsPem);
  return {
    identity: credentials.spiffeId,
    notBefore: credentials.notBefore.toISOString(),
    notAfter: credentials.notAfter.toISOString(),
    expiresInSeconds: Math.round((credentials.notAfter.getTime() - Date.now()) / 1000),
    chain: chain.map((c) => ({
      subject: c.subject,
      issuer: c.issuer,
      serialNumber: c.serialNumber,
      notAfter: c.notAfter,
      isCa: c.isCa,
    })),
    roots: roots.map((c) => ({ subject: c.subject, serialNumber: c.serialNumber, notAfter: c.notAfter })),
  };
}

/**
 * Starts the admin endpoint: `/config_dump` (the policy snapshot in force and its version),
 * `/clusters` (each destination's endpoints with health, ejection, pool and breaker state,
 * weights), `/stats` (counters as JSON), `/stats/prometheus`, `/certs` (identity and expiry),
 * `/ready` (503 once the mesh is closing) and `/healthz`. GET only; it changes nothing.
 */
export async function startAdmin(source: AdminSource, options: AdminOptions = {}): Promise<AdminServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new WeftError('WEFT_ERR_OPTION_VALUE', `admin: port ${String(port)} is not an integer in 0-65535`);
  }
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      text(res, 405, 'the admin endpoint answers GET only\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/':
        json(res, 200, { service: `${source.service}.${source.namespace}`, endpoints: ROUTES });
        return;
      case '/config_dump':
        json(res, 200, source.policy().toJSON());
        return;
      case '/clusters':
        json(res, 200, source.clusters());
        return;
      case '/stats':
        json(res, 200, source.stats());
        return;
      case '/stats/prometheus': {
        if (source.metrics === undefined) {
          text(res, 404, 'this mesh has no metrics\n');
          return;
        }
        const m = await source.metrics();
        text(res, 200, m.text, m.contentType);
        return;
      }
      case '/certs':
        json(res, 200, certs(source.identity()));
        return;
      case '/ready':
        if (source.ready()) text(res, 200, 'LIVE\n');
        else text(res, 503, 'DRAINING\n');
        return;
      case '/healthz':
        text(res, 200, 'ok\n');
        return;
      default:
        json(res, 404, { error: `no admin page ${path}`, endpoints: ROUTES });
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) text(res, 500, `${(error as Error).message}\n`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
