// Starts an HTTP server for an application with the mesh's settings, and drains it on close.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { WeftError } from '@weft/core';
import { type FrontPolicy, secureFront } from './front.js';

export interface ListenOptions {
  /** Port to listen on; 0 picks a free one. Default 0. */
  port?: number;
  /** Address to bind; default `127.0.0.1`. */
  host?: string;
}

export interface MeshServer {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
  /** `host:port` as discovery takes it (IPv6 in brackets). */
  readonly address: string;
  /**
   * `http://host:port`. With mTLS on, weft clients reach the same port over mutual TLS by its
   * `address`; plaintext through this URL is accepted while the port is PERMISSIVE.
   */
  readonly url: string;
  /** Stops accepting, lets calls in flight finish (up to the mesh's drainTimeoutMs), then cuts the rest. */
  close(): Promise<void>;
}

/** Fastify's instance as far as listen needs it. */
interface FastifyLike {
  listen(options: { port: number; host: string }): Promise<string>;
  ready(): PromiseLike<unknown>;
  close(): Promise<void>;
  readonly server: Server;
}

function isFastify(app: unknown): app is FastifyLike {
  return (
    typeof app === 'object' &&
    app !== null &&
    typeof (app as FastifyLike).listen === 'function' &&
    typeof (app as { register?: unknown }).register === 'function'
  );
}

/** How often a draining server closes connections that have gone idle since the last look, in ms. */
const DRAIN_SWEEP_MS = 20;

async function drain(server: Server, stop: () => Promise<void>, drainTimeoutMs: number): Promise<void> {
  // Node closes the connections idle at close() time only; a keep-alive connection whose call
  // finishes later would hold the server open until the client drops it. Sweep until done.
  const sweep = setInterval(() => server.closeIdleConnections(), DRAIN_SWEEP_MS);
  const cut = setTimeout(() => server.closeAllConnections(), drainTimeoutMs);
  try {
    const stopped = stop();
    server.closeIdleConnections();
    await stopped;
  } finally {
    clearInterval(sweep);
    clearTimeout(cut);
  }
}

function listenOn(server: NetServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * An Express app (or any Node request listener) or a Fastify instance, listening. With `secure`
 * (the mesh has mTLS on), a front on the port tells TLS from plaintext per connection and hands
 * each to the application's HTTP server, which itself listens on nothing.
 */
export async function listen(
  app: unknown,
  options: ListenOptions,
  drainTimeoutMs: number,
  secure?: FrontPolicy,
): Promise<MeshServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new WeftError('WEFT_ERR_OPTION_VALUE', `listen: port ${String(port)} is not an integer in 0-65535`);
  }
  let server: Server;
  let stop: () => Promise<void>;
  if (secure !== undefined) {
    let http: Server;
    let closeApp: () => Promise<void>;
    if (isFastify(app)) {
      await app.ready();
      http = app.server;
      closeApp = () => app.close();
    } else if (typeof app === 'function') {
      http = createServer(app as RequestListener);
      closeApp = () => Promise.resolve();
    } else {
      throw new WeftError(
        'WEFT_ERR_OPTION_TYPE',
        'listen: expected an Express app, a Node request listener or a Fastify instance',
      );
    }
    const front = secureFront(http, secure);
    await listenOn(front, port, host);
    server = http;
    stop = async () => {
      await new Promise<void>((resolve) => front.close(() => resolve()));
      await closeApp();
    };
    return served(server, front, stop, drainTimeoutMs);
  }
  if (isFastify(app)) {
    await app.listen({ port, host });
    server = app.server;
    stop = () => app.close();
  } else if (typeof app === 'function') {
    server = createServer(app as RequestListener);
    await listenOn(server, port, host);
    stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  } else {
    throw new WeftError(
      'WEFT_ERR_OPTION_TYPE',
      'listen: expected an Express app, a Node request listener or a Fastify instance',
    );
  }
  return served(server, server, stop, drainTimeoutMs);
}

function served(server: Server, bound: NetServer, stop: () => Promise<void>, drainTimeoutMs: number): MeshServer {
  const address = bound.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    server,
    host: address.address,
    port: address.port,
    address: `${shown}:${address.port}`,
    url: `http://${shown}:${address.port}`,
    close() {
      closing ??= drain(server, stop, drainTimeoutMs);
      return closing;
    },
  };
}
