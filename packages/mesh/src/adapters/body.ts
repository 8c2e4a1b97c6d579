// Conversions of request and response bodies shared by the client adapters.

import { Readable } from 'node:stream';
import { type RequestBody, type ResponseBody, WeftError } from '@weft/core';

export function isReadable(value: unknown): value is Readable {
  return value !== null && typeof value === 'object' && typeof (value as Readable).pipe === 'function';
}

/**
 * A body a client library handed us, as weft's RequestBody. Strings, bytes and Node streams
 * pass as they are; anything the platform knows how to serialise (FormData, Blob,
 * URLSearchParams, web streams) is serialised by the platform's own Request, which also
 * supplies the content type.
 */
export function toRequestBody(
  data: unknown,
  setContentType: (value: string) => void,
  service: string,
): RequestBody | Promise<RequestBody> {
  if (data === undefined || data === null) return null;
  if (typeof data === 'string' || data instanceof Uint8Array || isReadable(data)) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (
    data instanceof URLSearchParams ||
    data instanceof Blob ||
    data instanceof FormData ||
    data instanceof ReadableStream
  ) {
    const serialised = new Request('http://body.invalid/', {
      method: 'POST',
      body: data,
      duplex: 'half',
    } as RequestInit);
    const type = serialised.headers.get('content-type');
    if (type !== null) setContentType(type);
    return serialised.body === null
      ? null
      : Readable.fromWeb(serialised.body as import('node:stream/web').ReadableStream);
  }
  throw new WeftError(
    'WEFT_ERR_REQUEST_INVALID',
    `cannot send a request body of type ${Object.prototype.toString.call(data)} to ${service}; use a string, bytes, a stream, FormData, Blob or URLSearchParams`,
    { service },
  );
}

/** Reads a whole response body into one Buffer, failing past `maxBytes` (-1: no limit). */
export async function readAll(body: ResponseBody, maxBytes = -1): Promise<Buffer> {
  if (body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (maxBytes >= 0 && size > maxBytes) {
      body.destroy();
      throw new RangeError(`response body is larger than maxContentLength (${maxBytes} bytes)`);
    }
    chunks.push(buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}

/** A response body as a Node stream. */
export function toReadable(body: ResponseBody): Readable {
  if (isReadable(body)) return body;
  return Readable.from(body === null ? [] : [typeof body === 'string' ? Buffer.from(body) : body]);
}
