// The transport: the end of the client pipeline, where a call leaves the process on a pooled keep-alive connection.
import {
  type CallContext,
  type Endpoint,
  type Handler,
  isWeftError,
  WeftError,
  type WeftHeaders,
  type WeftRequest,
  type WeftResponse,
} from '@weft/core';
import { Pool } from 'undici';
import type { ClientCallContext } from '../../client/context.js';
import { hostOf } from '../../options/address.js';
import { destinationTrafficPolicy } from '../../routing/destination.js';
import { toWeftError } from './errors.js';
import { teachUndiciHeaderNames } from './header-names.js';
import {
  allowedIdentities,
  type ClientTls,
  type ClientTlsSettings,
  type Connector,
  mtlsConnector,
  type OriginatedTls,
  originationConnector,
  readOriginatedTls,
  usesMtls,
} from './mtls.js';
import { type ConnectionPoolSettings, type PoolConfig, poolConfig, sameConfig } from './pool-config.js';

export { type ClientTls, SERVICE_ACCOUNT_LABEL, TLS_MODE_LABEL } from './mtls.js';
export { type ConnectionPoolSettings, type PoolConfig, poolConfig } from './pool-config.js';

export interface TransportOptions {
  /** Most connections open to one endpoint at once, for one destination; further calls queue. */
  maxConnectionsPerEndpoint: number;
  /** How long an idle connection is kept for reuse, in ms. */
  idleTimeoutMs: number;
  /** Time allowed to open a connection, in ms. */
  connectTimeoutMs: number;
  /** Limit on waiting for response headers when the call has no deadline, in ms. */
  noDeadlineHeadersTimeoutMs: number;
  /** This workload as `service.namespace`, sent with a propagated deadline. */
  peer: string;
  /** The workload's identity when the mesh has mTLS on: endpoints that take it are called over mutual TLS. */
  tls?: ClientTls;
  /** Names of the headers the mesh's own layers write (trace context, x-request-id), taught to undici (header-names.ts). */
  headerNames?: readonly string[];
}

/** The TLS server name given to undici for pools that never use it (see the handler). */
const UNUSED_SERVERNAME = 'weft.unused';

/** How long a DestinationRule's TLS files that could not be read wait before they are read again. */
const RETRY_TLS_FILES_MS = 5_000;

/** Envoy's header for the time the caller will wait, in ms; weft reads and writes it. */
export const DEADLINE_HEADER = 'x-envoy-expected-rq-timeout-ms';
/**
 * Sent with the deadline: which weft workload (`service.namespace`) makes the call, so a weft
 * server configured to trust only the mesh's deadlines can tell them apart. Until mTLS
 * identities (issue 6) it is a claim, not a proof.
 */
export const PEER_HEADER = 'x-weft-peer';

// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded;
// undici refuses most of them outright. onTheWire() reads each by name: a named read of an
// absent header is a few ns, a read through a variable name tens.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

/**
 * The headers as they go on the wire, as undici's flat list (`[name, value, name, value, …]`),
 * with the logical authority as Host, as a sidecar keeps it: the server sees `reviews`, not an IP.
 * A list, not the request's object: undici reads an object's headers through a variable name
 * (`headers[keys[i]]`), which goes megamorphic once a process sends more than one header name
 * and then costs a stub-cache lookup a header (about 390 instructions each, under callgrind);
 * it reads a list by index. Reading our object here is a for-in over its own map, which V8
 * reads by field. Headers whose value is undefined are left out, as undici leaves them out; any
 * other value that is not a list goes as it is, for undici to write (a number) or refuse, as before.
 */
function onTheWire(headers: WeftHeaders, authority: string, remainingMs: number, peer: string): string[] {
  const out: string[] = [];
  const hopByHop =
    headers.connection !== undefined ||
    headers['keep-alive'] !== undefined ||
    headers['proxy-connection'] !== undefined ||
    headers['transfer-encoding'] !== undefined ||
    headers.upgrade !== undefined ||
    headers.te !== undefined ||
    headers.trailer !== undefined;
  // The time left travels with the call (Envoy's header), so a weft server and the calls it makes
  // while handling it can keep within it; it replaces any the request carried (an application
  // relaying its inbound headers), which would otherwise go out twice and be read as neither.
  const deadline = remainingMs !== Number.POSITIVE_INFINITY;
  const replaced = deadline && (headers[DEADLINE_HEADER] !== undefined || headers[PEER_HEADER] !== undefined);
  const skip = hopByHop || replaced;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || (skip && leftOut(name, hopByHop, replaced))) continue;
    // A list goes as a line a value, as undici writes one.
    if (Array.isArray(value)) for (const one of value) out.push(name, one);
    else out.push(name, value);
  }
  if (headers.host === undefined) out.push('host', authority);
  if (deadline) out.push(DEADLINE_HEADER, String(Math.max(1, Math.floor(remainingMs))), PEER_HEADER, peer);
  return out;
}

const leftOut = (name: string, hopByHop: boolean, replaced: boolean): boolean =>
  (hopByHop && HOP_BY_HOP.has(name)) || (replaced && (name === DEADLINE_HEADER || name === PEER_HEADER));

/** Our own aborts carry a WeftError (the deadline's); anything else is the caller's. */
function abortReason(reason: unknown): unknown {
  if (isWeftError(reason)) return reason;
  // AbortSignal.timeout() aborts with a TimeoutError: the caller's own deadline, not a cancel.
  const name = (reason as { name?: unknown } | null)?.name === 'TimeoutError' ? 'TimeoutError' : 'AbortError';
  return Object.assign(new Error(`aborted by the caller's signal`, { cause: reason }), { name });
}

/** The pools of one destination (a service, or `host|subset`), made with its connectionPool settings. */
interface DestinationPools {
  /** The policy snapshot the settings were last read from: another one means read them again. */
  policy: unknown;
  settings: ConnectionPoolSettings | undefined;
  config: PoolConfig;
  /** The destination's `trafficPolicy.tls` (mode, subjectAltNames). */
  tls: ClientTlsSettings | undefined;
  /** For `tls.mode` SIMPLE or MUTUAL: the rule's files as read (or why they could not be), once per rule. */
  originated: OriginatedTls | WeftError | undefined;
  /** When files that could not be read are tried again (ms). */
  retryFilesAt: number;
  /** The pools of originated TLS, by the call's authority (its host is the SNI unless the rule names one). */
  readonly byAuthority: Map<string, WeakMap<Endpoint, Pool>>;
  readonly byOrigin: Map<string, Pool>;
  /** The pool of each endpoint object, so a call to a known endpoint builds no origin string. */
  byEndpoint: WeakMap<Endpoint, Pool>;
}

/** What a call to a destination reads for its pools: its name and, for a routed call, its policy and subset. */
type TransportContext = CallContext & Partial<Pick<ClientCallContext, 'policy' | 'subset'>>;

/**
 * Sends the request to `ctx.endpoint` over an undici Pool (keep-alive, bounded connections) and
 * maps every failure to a WeftError. There is one Pool per destination and endpoint, as Envoy
 * keeps connection pools per cluster and host: a destination is the service, or one of its
 * subsets (`ctx.snapshot.service`), so a saturated destination queues only on its own sockets,
 * never on another's (a bulkhead, even when two destinations share an endpoint). Each
 * destination's pools take its DestinationRule's connectionPool (the subset's own first, then
 * the rule's): `tcp.maxConnections` (connections per endpoint, at most the mesh's
 * `maxConnectionsPerEndpoint`), `tcp.connectTimeout`, `tcp.maxConnectionDuration`,
 * `http.idleTimeout` and `http.maxRequestsPerConnection`. When those settings change, the destination gets new pools
 * and the old ones close once their calls finish. Pools are made on first use and closed by
 * `close()`; they outlive endpoint changes, so a returning endpoint reuses them.
 */
export class Transport {
  readonly #destinations = new Map<string, DestinationPools>();
  /** Pools replaced by a settings change, closing as their calls finish: each with its closing. */
  readonly #retired = new Map<Pool, Promise<void>>();
  readonly #options: TransportOptions;
  readonly #defaultConfig: PoolConfig;
  #closed = false;

  constructor(options: TransportOptions) {
    this.#options = options;
    this.#defaultConfig = poolConfig(options, undefined);
    teachUndiciHeaderNames([DEADLINE_HEADER, PEER_HEADER, ...(options.headerNames ?? [])]);
  }

  /** The pools of the call's destination, with its current connectionPool settings. */
  #destination(ctx: TransportContext): DestinationPools {
    // A destination without a snapshot is a host a ServiceEntry declares outside (its own rule), or a pass-through ('').
    const name = ctx.snapshot?.service ?? ctx.service ?? '';
    let d = this.#destinations.get(name);
    if (d !== undefined && d.policy === ctx.policy) return d;
    const settings = ctx.service === undefined ? undefined : destinationTrafficPolicy(ctx as never, 'connectionPool');
    const tls = ctx.service === undefined ? undefined : destinationTrafficPolicy(ctx as never, 'tls');
    if (d === undefined) {
      d = {
        policy: ctx.policy,
        settings,
        tls,
        originated: undefined,
        retryFilesAt: 0,
        config: settings === undefined ? this.#defaultConfig : poolConfig(this.#options, settings),
        byOrigin: new Map(),
        byEndpoint: new WeakMap(),
        byAuthority: new Map(),
      };
      this.#destinations.set(name, d);
      return d;
    }
    d.policy = ctx.policy;
    if (settings === d.settings && tls === d.tls) return d;
    const tlsChanged = JSON.stringify(tls) !== JSON.stringify(d.tls);
    d.settings = settings;
    d.tls = tls;
    const config = settings === undefined ? this.#defaultConfig : poolConfig(this.#options, settings);
    if (sameConfig(config, d.config) && !tlsChanged) return d;
    // New settings, new pools; the old ones finish what they carry and close.
    d.config = config;
    d.originated = undefined;
    for (const pool of d.byOrigin.values()) this.#retire(pool);
    d.byOrigin.clear();
    d.byEndpoint = new WeakMap();
    d.byAuthority.clear();
    return d;
  }

  #retire(pool: Pool): void {
    const done = (): void => {
      this.#retired.delete(pool);
    };
    this.#retired.set(pool, pool.close().then(done, done));
  }

  /** The pool of `key` (an origin; `mtls://host:port` or `tls://sni@host:port` for TLS of weft's own making, whose `connect` is given). */
  #pool(d: DestinationPools, key: string, origin: string, connect?: Connector): Pool {
    let pool = d.byOrigin.get(key);
    if (pool === undefined) {
      const c = d.config;
      pool = new Pool(origin, {
        ...(connect === undefined ? {} : { connect: connect as never }),
        connections: c.connections,
        keepAliveTimeout: c.keepAliveTimeoutMs,
        keepAliveMaxTimeout: c.keepAliveMaxTimeoutMs,
        connectTimeout: c.connectTimeoutMs,
        ...(c.maxRequestsPerClient === undefined ? {} : { maxRequestsPerClient: c.maxRequestsPerClient }),
        ...(c.maxConnectionAgeMs === undefined ? {} : { clientTtl: c.maxConnectionAgeMs }),
        pipelining: 1,
      });
      d.byOrigin.set(key, pool);
    }
    return pool;
  }

  /** The pool of TLS a rule originates to `endpoint` for calls to `authority`, or why there can be none. */
  #originated(d: DestinationPools, service: string, endpoint: Endpoint, authority: string): Pool | WeftError {
    const settings = d.tls as ClientTlsSettings;
    // An unreadable file is read again after a while (a secret may be mounted after the start).
    if (d.originated === undefined || (d.originated instanceof WeftError && Date.now() >= d.retryFilesAt)) {
      try {
        d.originated = readOriginatedTls(settings, service);
      } catch (error) {
        d.originated = error as WeftError;
        d.retryFilesAt = Date.now() + RETRY_TLS_FILES_MS;
      }
    }
    const tls = d.originated;
    if (tls instanceof WeftError) return tls;
    let pools = d.byAuthority.get(authority);
    if (pools === undefined) {
      pools = new WeakMap();
      d.byAuthority.set(authority, pools);
    }
    let pool = pools.get(endpoint);
    if (pool === undefined) {
      const host = hostOf(authority);
      const connect = originationConnector(tls, endpoint, host, d.config.connectTimeoutMs);
      pool = this.#pool(d, `tls://${tls.sni ?? host}@${endpoint.address}`, `https://${endpoint.address}`, connect);
      pools.set(endpoint, pool);
    }
    return pool;
  }

  readonly handler: Handler = (request: WeftRequest, ctx: CallContext): Promise<WeftResponse> => {
    const endpoint = ctx.endpoint;
    if (this.#closed || endpoint === undefined) {
      return Promise.reject(
        this.#closed
          ? new WeftError('WEFT_ERR_CLOSED', 'the mesh is closed', { service: ctx.service })
          : new WeftError('WEFT_ERR_NO_HEALTHY_UPSTREAM', 'no endpoint was chosen for the call', {
              service: ctx.service,
            }),
      );
    }
    const d = this.#destination(ctx as TransportContext);
    let pool = d.byEndpoint.get(endpoint);
    // What undici is told the TLS server name is. A pool whose connections weft opens itself (mTLS,
    // TLS a rule originates) or that speaks plaintext never uses it, so it gets a constant: without
    // one, undici works it out from the Host header on every request (an IP check, ~0.15 µs).
    // undici's own TLS connector (https:// pass-through) takes it from the Host header, for SNI.
    let servername: string | undefined = UNUSED_SERVERNAME;
    if (pool === undefined) {
      const mode = d.tls?.mode;
      if (mode === 'SIMPLE' || mode === 'MUTUAL') {
        // TLS the rule originates, for http:// and https:// calls alike (an https:// call gets the
        // rule's certificates and checks instead of the defaults, never TLS inside TLS).
        const originated = this.#originated(d, ctx.service as string, endpoint, request.authority);
        if (originated instanceof WeftError) return Promise.reject(originated);
        pool = originated;
      }
    }
    if (pool === undefined) {
      const tls = this.#options.tls;
      // Mesh endpoints only: a host a ServiceEntry declares outside (no snapshot) speaks no weft mTLS.
      if (tls !== undefined && ctx.snapshot !== undefined && ctx.service !== undefined && usesMtls(d.tls, endpoint)) {
        const allowed = allowedIdentities(d.tls, ctx.service, endpoint, tls.trustDomain);
        const connect = mtlsConnector(tls, endpoint, allowed, d.config.connectTimeoutMs);
        pool = this.#pool(d, `mtls://${endpoint.address}`, `https://${endpoint.address}`, connect);
        d.byEndpoint.set(endpoint, pool);
      } else {
        const origin = request.scheme === 'http' ? `http://${endpoint.address}` : `https://${endpoint.address}`;
        pool = this.#pool(d, origin, origin);
        if (request.scheme === 'http') d.byEndpoint.set(endpoint, pool);
        else servername = undefined;
      }
    }
    const remaining = ctx.remainingMs();
    const waitMs =
      remaining === Number.POSITIVE_INFINITY ? this.#options.noDeadlineHeadersTimeoutMs : Math.max(1, remaining);
    const options = {
      method: request.method as 'GET',
      path: request.path,
      headers: onTheWire(request.headers, request.authority, remaining, this.#options.peer),
      body: request.body,
      servername,
      // maxRequestsPerConnection 1: every request closes its connection (Connection: close).
      reset: d.config.closeEachConnection ? true : undefined,
      signal: ctx.signal,
      headersTimeout: waitMs,
      bodyTimeout: waitMs,
    };
    // undici's callback form, settling one promise of our own: its promise form would add a
    // second promise and a turn of the microtask queue to every call.
    const target = pool;
    return new Promise<WeftResponse>((resolve, reject) => {
      target.request(options, (error, res) => {
        if (error === null) resolve({ status: res.statusCode, headers: res.headers as WeftHeaders, body: res.body });
        else reject(toWeftError(ctx.signal?.aborted ? abortReason(ctx.signal.reason) : error, ctx));
      });
    });
  };

  /** Every open pool: its destination and endpoint, and what it holds. */
  pools(): { destination: string; origin: string; connected: number; running: number; pending: number }[] {
    const out: { destination: string; origin: string; connected: number; running: number; pending: number }[] = [];
    for (const [destination, d] of this.#destinations) {
      for (const [origin, pool] of d.byOrigin) {
        const { connected, running, pending } = pool.stats;
        out.push({ destination, origin, connected, running, pending });
      }
    }
    return out;
  }

  #takeAll(): Pool[] {
    this.#closed = true;
    const pools: Pool[] = [];
    for (const d of this.#destinations.values()) pools.push(...d.byOrigin.values());
    this.#destinations.clear();
    return pools;
  }

  /** Lets calls in flight finish, then closes every connection. */
  async close(): Promise<void> {
    await Promise.all([...this.#takeAll().map((p) => p.close()), ...this.#retired.values()]);
  }

  /** Cuts every connection now; calls in flight fail with WEFT_ERR_CLOSED. */
  async destroy(): Promise<void> {
    await Promise.all([...this.#takeAll(), ...this.#retired.keys()].map((p) => p.destroy()));
  }
}
