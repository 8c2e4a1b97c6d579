// A destination's connectionPool settings made into the options of its undici pools, with every default.
import { parseDurationMs, type TrafficPolicy } from '@weft/policy';
import type { TransportOptions } from './index.js';

/** `connectionPool` of a DestinationRule's trafficPolicy (or of a subset's). */
export type ConnectionPoolSettings = NonNullable<TrafficPolicy['connectionPool']>;

/** What a destination's pools are made with; all times in ms. */
export interface PoolConfig {
  /** Connections per endpoint: the mesh's `maxConnectionsPerEndpoint`, at most `tcp.maxConnections`. */
  readonly connections: number;
  /** An idle connection is closed after this (`http.idleTimeout`; else the mesh's `idleTimeoutMs`). */
  readonly keepAliveTimeoutMs: number;
  /** The most a server's `Keep-Alive: timeout` hint may keep one (with `http.idleTimeout`: that). */
  readonly keepAliveMaxTimeoutMs: number;
  /** Time to open a connection (`tcp.connectTimeout`; else the mesh's `connectTimeoutMs`). */
  readonly connectTimeoutMs: number;
  /** undici's `maxRequestsPerClient`, from `http.maxRequestsPerConnection`; `undefined`: no limit. */
  readonly maxRequestsPerClient: number | undefined;
  /** `http.maxRequestsPerConnection: 1`: every request closes its connection. */
  readonly closeEachConnection: boolean;
  /**
   * undici's `clientTtl`, from `tcp.maxConnectionDuration`: a connection older than this takes no
   * new request and closes once its own is done; `undefined`: no limit.
   */
  readonly maxConnectionAgeMs: number | undefined;
}

/** How long a server's keep-alive hint may hold an idle connection when no `http.idleTimeout` is set. */
const KEEP_ALIVE_MAX_MS = 600_000;
/** Istio's `idleTimeout: 0s` turns Envoy's idle timeout off; weft keeps idle connections up to Istio's default, 1 h. */
const NO_IDLE_TIMEOUT_MS = 3_600_000;

/**
 * The pool options of a destination with these connectionPool settings (`undefined`: none), on
 * top of the mesh's transport options. Fields weft does not act on are left out.
 */
export function poolConfig(base: TransportOptions, settings: ConnectionPoolSettings | undefined): PoolConfig {
  const maxConnections = settings?.tcp?.maxConnections;
  const idleText = settings?.http?.idleTimeout;
  const idle = idleText === undefined ? undefined : parseDurationMs(idleText);
  const connectText = settings?.tcp?.connectTimeout;
  const connect = connectText === undefined ? undefined : parseDurationMs(connectText);
  const perConnection = settings?.http?.maxRequestsPerConnection ?? 0;
  const durationText = settings?.tcp?.maxConnectionDuration;
  const duration = durationText === undefined ? undefined : parseDurationMs(durationText);
  const idleMs = idle === undefined ? undefined : idle <= 0 ? NO_IDLE_TIMEOUT_MS : Math.max(1, idle);
  return {
    // Istio copies maxConnections only when it is above 0.
    connections:
      maxConnections === undefined || maxConnections <= 0
        ? base.maxConnectionsPerEndpoint
        : Math.min(base.maxConnectionsPerEndpoint, maxConnections),
    keepAliveTimeoutMs: idleMs ?? base.idleTimeoutMs,
    keepAliveMaxTimeoutMs: idleMs ?? Math.max(base.idleTimeoutMs, KEEP_ALIVE_MAX_MS),
    connectTimeoutMs: connect === undefined || connect <= 0 ? base.connectTimeoutMs : connect,
    // undici closes a connection after the request that finds `maxRequestsPerClient` already sent on
    // it, so N requests a connection is N − 1 there; 1 is done per request (Connection: close).
    maxRequestsPerClient: perConnection >= 2 ? perConnection - 1 : undefined,
    closeEachConnection: perConnection === 1,
    maxConnectionAgeMs: duration === undefined || duration <= 0 ? undefined : duration,
  };
}

export function sameConfig(a: PoolConfig, b: PoolConfig): boolean {
  return (
    a.connections === b.connections &&
    a.keepAliveTimeoutMs === b.keepAliveTimeoutMs &&
    a.keepAliveMaxTimeoutMs === b.keepAliveMaxTimeoutMs &&
    a.connectTimeoutMs === b.connectTimeoutMs &&
    a.maxRequestsPerClient === b.maxRequestsPerClient &&
    a.closeEachConnection === b.closeEachConnection &&
    a.maxConnectionAgeMs === b.maxConnectionAgeMs
  );
}
