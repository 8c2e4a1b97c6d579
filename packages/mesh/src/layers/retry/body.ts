// Request and response bodies around a retry: holding a streamed request body to replay it, and letting go of a retried response.
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { type ResponseBody, WeftError, type WeftHeaders } from '@weft/core';

/** A streamed body read up front: whole (`bytes`, replayable) or past the cap (`body`, every byte still to come, sent once). */
export type HeldBody =
  | { readonly complete: true; readonly bytes: Buffer }
  | { readonly complete: false; readonly body: Readable };

function byteLength(chunk: Buffer | string): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
}

function bodyFailed(cause: unknown): WeftError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new WeftError('WEFT_ERR_REQUEST_INVALID', `the request body stream failed before it could be sent: ${why}`, {
    cause,
  });
}

/**
 * Reads `source` until it ends or holds more than `capBytes`. A body that ends within the cap comes
 * back as one Buffer that can be sent any number of times. A longer one comes back as a stream that
 * yields the bytes already read and then the rest of `source`, so nothing is lost; it can be sent
 * once. A stream error rejects with WEFT_ERR_REQUEST_INVALID; an abort of `signal` destroys the
 * source and rejects with the signal's reason (the caller maps it).
 */
export function holdBody(source: Readable, capBytes: number, signal: AbortSignal | undefined): Promise<HeldBody> {
  if (source.readableEnded) return Promise.resolve({ complete: true, bytes: Buffer.alloc(0) });
  if (source.destroyed) return Promise.reject(bodyFailed(source.errored ?? new Error('the stream was destroyed')));
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<HeldBody>((resolve, reject) => {
    const chunks: (Buffer | string)[] = [];
    let size = 0;
    const cleanup = (): void => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    function onData(chunk: Buffer | string): void {
      chunks.push(chunk);
      size += byteLength(chunk);
      if (size <= capBytes) return;
      // Over the cap: stop reading here (no 'data' is emitted after pause() returns) and hand on
      // a stream of what was read followed by the rest. pipeline() takes over the source's
      // errors at once and destroys it if the stream handed on is destroyed.
      source.pause();
      cleanup();
      const out = new PassThrough();
      for (const c of chunks) out.write(c);
      pipeline(source, out, () => {});
      resolve({ complete: false, body: out });
    }
    function onEnd(): void {
      cleanup();
      const buffers = chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c));
      resolve({ complete: true, bytes: buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers, size) });
    }
    function onError(error: unknown): void {
      cleanup();
      reject(bodyFailed(error));
    }
    function onAbort(): void {
      cleanup();
      const reason: unknown = signal?.reason;
      source.destroy();
      reject(reason);
    }
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    source.resume();
  });
}

const noop = (): void => {};

/**
 * Lets go of the body of a response that is being retried. A small body with a known length is
 * read to its end in the background, so its keep-alive connection goes back to the pool; any
 * other is destroyed, which closes the connection (as Envoy resets the upstream stream).
 */
export function releaseBody(body: ResponseBody, headers: WeftHeaders, maxDrainedBytes: number): void {
  if (body === null || typeof body === 'string' || body instanceof Uint8Array) return;
  body.on('error', noop);
  if (body.destroyed || body.readableEnded) return;
  const header = headers['content-length'];
  const length = Number(Array.isArray(header) ? header[0] : header);
  if (header !== undefined && length >= 0 && length <= maxDrainedBytes) body.resume();
  else body.destroy();
}
