// The fetch integration: a WHATWG fetch whose calls to mesh services go down the client pipeline.

import type { Readable } from 'node:stream';
import { isWeftError, WeftError, type WeftHeaders } from '@weft/core';
import type { OutboundClient } from '../client/client.js';
import type { CallOverrides } from '../client/context.js';
import { toRequestBody } from './body.js';

/** fetch's init, plus weft's settings for this one call, which win over the route's and the mesh's. */
export type MeshRequestInit = RequestInit & { weft?: CallOverrides };

export type FetchFunction = (input: string | URL | Request, init?: MeshRequestInit) => Promise<Response>;

type HeadersInit = ConstructorParameters<typeof Headers>[0];
type BodyInit = ConstructorParameters<typeof Response>[0];

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

function headersOf(init: HeadersInit | undefined, request: Request | undefined): WeftHeaders {
  const out: WeftHeaders = {};
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    out[key] = out[key] === undefined ? value : `${out[key] as string}, ${value}`;
  };
  if (request !== undefined) {
    request.headers.forEach((value, name) => {
      add(name, value);
    });
  }
  if (init === undefined) return out;
  if (init instanceof Headers) {
    init.forEach((value, name) => {
      add(name, value);
    });
  } else if (Array.isArray(init)) for (const [name, value] of init) add(name as string, value as string);
  else for (const name in init) add(name, String((init as Record<string, string>)[name]));
  if (out['set-cookie'] !== undefined) delete out['set-cookie'];
  return out;
}

/**
 * A Node stream as a web ReadableStream, with backpressure: the Node side pauses while the
 * web side's queue is full. Hand-written because Readable.toWeb() spends most of its cost
 * on set-up a response body does not need: about 15 % of a weft fetch call's CPU (bench/).
 */
function toWebStream(body: Readable, authority: string): ReadableStream<Uint8Array> {
  // Once the reader cancels (or the stream ends), the controller takes nothing more: a late
  // 'end' or 'error' from the destroyed Node stream must not reach it (it would throw).
  let open = true;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      body.on('data', (chunk: Buffer | string) => {
        if (!open) return;
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        controller.enqueue(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) body.pause();
      });
      body.once('end', () => {
        if (!open) return;
        open = false;
        controller.close();
      });
      body.once('error', (error) => {
        if (!open) return;
        open = false;
        controller.error(
          isWeftError(error)
            ? error
            : new WeftError('WEFT_ERR_UPSTREAM_RESET', `response body from ${authority} was cut off`, {
                service: authority,
                cause: error,
              }),
        );
      });
    },
    pull() {
      if (body.isPaused()) body.resume();
    },
    cancel(reason) {
      open = false;
      body.destroy(reason instanceof Error ? reason : undefined);
    },
  });
}

function toWebHeaders(headers: WeftHeaders): Headers {
  const out = new Headers();
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(name, v);
    else out.append(name, value);
  }
  return out;
}

/**
 * A fetch for the mesh: a URL whose host is a mesh service (`http://reviews/reviews/0`) goes
 * through the mesh; any other host goes to `fallback` (the platform's fetch) unchanged,
 * unless the mesh is REGISTRY_ONLY. Mesh failures reject with the WeftError itself.
 * Redirects from mesh services are handed back as they are (as a sidecar does), which is
 * fetch's `redirect: 'manual'`.
 */
export function createMeshFetch(client: OutboundClient, fallback: FetchFunction = globalThis.fetch): FetchFunction {
  return async (input, init) => {
    const request = input instanceof Request ? input : undefined;
    const url = new URL(request?.url ?? (input as string | URL));
    if (!client.intercepts(url.host, url.protocol === 'https:' ? 'https' : 'http')) return fallback(input, init);
    const headers = headersOf(init?.headers, request);
    const rawBody = init?.body ?? request?.body ?? null;
    const body = await toRequestBody(
      rawBody,
      (type) => {
        headers['content-type'] ??= type;
      },
      url.host,
    );
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    const response = await client.send(
      {
        method,
        scheme: url.protocol === 'https:' ? 'https' : 'http',
        authority: url.host,
        path: url.pathname + url.search,
        headers,
        body,
      },
      0,
      init?.signal ?? request?.signal ?? undefined,
      init?.weft,
    );
    const nullBody = NULL_BODY_STATUS.has(response.status) || method === 'HEAD';
    let webBody: BodyInit | null = null;
    if (!nullBody && response.body !== null) {
      webBody =
        typeof response.body === 'string' || response.body instanceof Uint8Array
          ? (response.body as BodyInit)
          : toWebStream(response.body, url.host);
    } else if (response.body !== null && typeof response.body === 'object' && 'resume' in response.body) {
      response.body.resume();
    }
    const result = new Response(webBody, { status: response.status, headers: toWebHeaders(response.headers) });
    Object.defineProperty(result, 'url', { value: url.href });
    return result;
  };
}
