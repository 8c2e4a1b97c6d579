// The axios integration: an adapter that sends calls for mesh services down the client pipeline.

import { STATUS_CODES } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { isWeftError, type RequestBody, WeftError, type WeftHeaders } from '@weft/core';
import axios, {
  type AxiosAdapter,
  AxiosError,
  AxiosHeaders,
  type AxiosInstance,
  type AxiosResponse,
  type CreateAxiosDefaults,
  type InternalAxiosRequestConfig,
} from 'axios';
import type { OutboundClient } from '../client/client.js';
import type { CallOverrides } from '../client/context.js';
import { readAll, toReadable, toRequestBody } from './body.js';

declare module 'axios' {
  interface AxiosRequestConfig {
    /** weft's settings for this one call, which win over the route's and the mesh's. */
    weft?: CallOverrides;
  }
}

function decompressor(encoding: string): NodeJS.ReadWriteStream | undefined {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

function toHeaders(config: InternalAxiosRequestConfig): WeftHeaders {
  const out: WeftHeaders = {};
  // AxiosHeaders keeps each header as an own property; null and false mean "unset" to axios.
  const source = config.headers as unknown as Record<string, unknown>;
  for (const name of Object.keys(source)) {
    const value = source[name];
    if (value === undefined || value === null || value === false) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value);
  }
  return out;
}

// axios' own rules for joining baseURL and url (lib/helpers/isAbsoluteURL, combineURLs,
// buildFullPath), repeated here because axios.getUri() re-merges the whole config on every
// call: about 16 µs a call, measured in bench/.
const ABSOLUTE_URL = /^([a-z][a-z\d+\-.]*:)?\/\//i;

function fullUrlOf(config: InternalAxiosRequestConfig): string {
  const url = config.url ?? '';
  const base = config.baseURL;
  let full = url;
  if (base && (!ABSOLUTE_URL.test(url) || config.allowAbsoluteUrls === false)) {
    full = url ? `${base.replace(/\/?\/$/, '')}/${url.replace(/^\/+/, '')}` : base;
  }
  if (config.params === undefined || config.params === null) return full;
  return axios.getUri({ url: full, params: config.params, paramsSerializer: config.paramsSerializer });
}

/**
 * An axios adapter: calls whose host is a mesh service (or every call, under REGISTRY_ONLY)
 * go through the mesh; others go to `fallback`, the instance's own adapter. Settles the way
 * axios does (validateStatus, responseType, decompress, maxContentLength); failures of the
 * mesh reject with the WeftError itself.
 */
export function meshAxiosAdapter(client: OutboundClient, fallback: AxiosAdapter): AxiosAdapter {
  return async (config: InternalAxiosRequestConfig): Promise<AxiosResponse> => {
    let url: URL;
    try {
      url = new URL(fullUrlOf(config));
    } catch {
      return fallback(config);
    }
    if (!client.intercepts(url.host, url.protocol === 'https:' ? 'https' : 'http')) return fallback(config);
    const headers = toHeaders(config);
    const body: RequestBody = await toRequestBody(
      config.data,
      (type) => {
        headers['content-type'] = type;
      },
      url.host,
    );
    const method = (config.method ?? 'get').toUpperCase();
    const response = await client.send(
      {
        method,
        scheme: url.protocol === 'https:' ? 'https' : 'http',
        authority: url.host,
        path: url.pathname + url.search,
        headers,
        body,
      },
      config.timeout ?? 0,
      config.signal as AbortSignal | undefined,
      config.weft,
    );
    const responseHeaders = { ...response.headers };
    let stream: Readable | null = response.body === null ? null : toReadable(response.body);
    const encoding = String(responseHeaders['content-encoding'] ?? '').toLowerCase();
    if (
      stream !== null &&
      config.decompress !== false &&
      method !== 'HEAD' &&
      response.status !== 204 &&
      response.status !== 304
    ) {
      const inflate = decompressor(encoding);
      if (inflate !== undefined) {
        stream = pipeline(stream, inflate, () => {}) as unknown as Readable;
        delete responseHeaders['content-encoding'];
      }
    }
    let data: unknown;
    try {
      if (config.responseType === 'stream') {
        data = stream ?? toReadable(null);
      } else {
        const bytes = await readAll(stream, config.maxContentLength ?? -1);
        data =
          config.responseType === 'arraybuffer'
            ? bytes
            : bytes.toString((config.responseEncoding as BufferEncoding) ?? 'utf8');
      }
    } catch (error) {
      if (error instanceof RangeError) {
        throw new AxiosError(error.message, AxiosError.ERR_BAD_RESPONSE, config);
      }
      throw isWeftError(error)
        ? error
        : new WeftError('WEFT_ERR_UPSTREAM_RESET', `response body from ${url.host} was cut off`, {
            service: url.host,
            cause: error,
          });
    }
    const result: AxiosResponse = {
      data,
      status: response.status,
      statusText: STATUS_CODES[response.status] ?? '',
      headers: new AxiosHeaders(responseHeaders as Record<string, string>),
      config,
      request: { path: url.pathname + url.search, host: url.host, mesh: true },
    };
    const validate = config.validateStatus;
    if (typeof validate === 'function' && !validate(response.status)) {
      throw new AxiosError(
        `Request failed with status code ${response.status}`,
        response.status >= 500 ? AxiosError.ERR_BAD_RESPONSE : AxiosError.ERR_BAD_REQUEST,
        config,
        result.request,
        result,
      );
    }
    return result;
  };
}

/** Makes an existing axios instance use the mesh for mesh services; other hosts keep its own adapter. */
export function withMesh<T extends AxiosInstance>(instance: T, client: OutboundClient): T {
  const fallback = axios.getAdapter(instance.defaults.adapter ?? ['http', 'fetch']);
  instance.defaults.adapter = meshAxiosAdapter(client, fallback);
  return instance;
}

/** A new axios instance on the mesh; with `service`, relative URLs go to that logical service. */
export function createMeshAxios(
  client: OutboundClient,
  service?: string,
  defaults: CreateAxiosDefaults = {},
): AxiosInstance {
  if (service?.includes('/')) {
    throw new WeftError('WEFT_ERR_OPTION_VALUE', `mesh.axios("${service}"): give a service name, not a URL`);
  }
  const instance = axios.create({ ...(service === undefined ? {} : { baseURL: `http://${service}` }), ...defaults });
  return withMesh(instance, client);
}
