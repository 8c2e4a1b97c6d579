// The inbound (server) pipeline, written down once: the first layer sees a call first.
import { compose, type Handler, type Layer, type ServerCallContext } from '@weft/core';
import { stats, type TrafficStats } from '../layers/stats/index.js';

export interface ServerPipelineParts {
  stats: TrafficStats;
  /** This workload's fully qualified service name, under which inbound calls are counted. */
  localService: string;
  /** Whose propagated deadline an inbound call adopts. */
  inboundDeadlines: 'mesh' | 'any' | 'none';
}

/**
 * The server stack. Its terminal handler is the application (Express or Fastify), supplied
 * by the adapter: it resolves once the application has sent its response. A layer that
 * answers by itself (authorization, later) short-circuits the application.
 */
export function serverLayers(parts: ServerPipelineParts): Layer<ServerCallContext>[] {
  const local = parts.localService;
  return [
    // Outermost, so the application's time and every refusal are counted.
    stats<ServerCallContext>(parts.stats, () => local),
    // (peer authentication, authorization, request authentication go here, before the application)
  ];
}

export function buildServerPipeline(
  parts: ServerPipelineParts,
  application: Handler<ServerCallContext>,
): Handler<ServerCallContext> {
  return compose(serverLayers(parts), application);
}
