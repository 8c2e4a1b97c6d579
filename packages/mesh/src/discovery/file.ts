// File discovery: endpoints by service in a YAML or JSON file, read again when it changes; a bad edit keeps the last good set.
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { type ConfigProblem, configError, type Endpoint, WeftError } from '@weft/core';
import { issueToProblems, POLICY_CODES, parseText } from '@weft/policy';
import { z } from 'zod';
import { parseAddress } from '../options/address.js';
import { endpointSchema } from '../options/mesh-options.js';
import type { DiscoverySink } from './registry.js';
import type { DiscoverySource } from './source.js';
import { toEndpoint } from './static.js';

/** The file's shape: `services: { <host>: [ 'host:port' | { address, labels, locality, weight, health } ] }`. */
const fileSchema = z.strictObject({ services: z.record(z.string(), z.array(endpointSchema)) });

/** How long a burst of file events settles before one read. */
const SETTLE_MS = 50;

/** The endpoints a file lists, by service host; throws WEFT_ERR_CONFIG_INVALID naming file, line and field. */
export function parseEndpointsFile(text: string, origin: string): Map<string, Endpoint[]> {
  const { documents, errors } = parseText(text, origin);
  if (errors.length > 0) {
    throw configError(
      errors.map((e) => ({
        code: 'WEFT_ERR_POLICY_PARSE',
        source: e.origin,
        path: '(root)',
        message: e.message,
        severity: 'error',
      })),
    );
  }
  const doc = documents[0];
  const value = doc?.value ?? { services: {} };
  const parsed = fileSchema.safeParse(value);
  if (!parsed.success) {
    const locate = doc?.locate ?? (() => origin);
    throw configError(
      parsed.error.issues.flatMap((issue) =>
        issueToProblems(issue, { schema: fileSchema, input: value, codes: POLICY_CODES, locate }),
      ),
    );
  }
  const out = new Map<string, Endpoint[]>();
  const problems: ConfigProblem[] = [];
  for (const [host, specs] of Object.entries(parsed.data.services)) {
    const endpoints: Endpoint[] = [];
    specs.forEach((spec, i) => {
      const s = typeof spec === 'string' ? { address: spec } : spec;
      const address = parseAddress(s.address);
      if (typeof address === 'string') {
        problems.push({
          code: 'WEFT_ERR_ADDRESS',
          source: doc?.locate(['services', host, i]) ?? origin,
          path: `services.${host}[${i}]`,
          message: address,
          severity: 'error',
        });
        return;
      }
      endpoints.push(
        toEndpoint({ ...address, labels: s.labels, locality: s.locality, weight: s.weight, health: s.health }),
      );
    });
    out.set(host, endpoints);
  }
  if (problems.length > 0) throw configError(problems);
  return out;
}

export interface FileSourceOptions {
  /** Read the file again when it changes; default true. */
  watch?: boolean;
  /** Told of a change that could not be read or checked (the last good endpoints stay). */
  onError?: (error: WeftError) => void;
}

/**
 * Endpoints from a file, as one source: a change replaces everything the file said (a service it
 * no longer lists falls to the next source). A file that cannot be read or does not check out
 * leaves the last good endpoints in force and marks the source stale; the first read must succeed.
 */
export function fileDiscovery(path: string, options: FileSourceOptions = {}): DiscoverySource {
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  const read = async (sink: DiscoverySink, first: boolean): Promise<void> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      const e = new WeftError(
        'WEFT_ERR_CONFIG_INVALID',
        `cannot read the endpoints file ${path}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
      if (first) throw e;
      sink.stale(e.message);
      options.onError?.(e);
      return;
    }
    try {
      sink.replaceAll(parseEndpointsFile(text, path));
    } catch (error) {
      if (first) throw error;
      sink.stale(
        `${path} was changed and does not check out; the last good endpoints stay: ${(error as Error).message}`,
      );
      options.onError?.(error as WeftError);
    }
  };
  return {
    name: `file ${path}`,
    async start(sink) {
      await read(sink, true);
      if (options.watch === false) return;
      const name = basename(path);
      watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
        if (changed !== null && String(changed) !== name) return;
        clearTimeout(timer);
        timer = setTimeout(() => void read(sink, false), SETTLE_MS).unref();
      });
    },
    close() {
      clearTimeout(timer);
      watcher?.close();
      return Promise.resolve();
    },
  };
}
