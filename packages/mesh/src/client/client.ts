// The outbound side of a mesh as the client adapters see it: which hosts it takes, and the pipeline to send them down.
import { type Handler, WeftError, type WeftRequest, type WeftResponse } from '@weft/core';
import type { ServiceRegistry } from '../discovery/registry.js';
import { inboundCalls } from '../server/inbound.js';
import { type CallOverrides, ClientCallContext } from './context.js';

export class OutboundClient {
  readonly #handler: Handler<ClientCallContext>;
  readonly #registry: ServiceRegistry;
  readonly #registryOnly: boolean;
  #closed = false;

  constructor(
    handler: Handler<ClientCallContext>,
    registry: ServiceRegistry,
    outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY',
  ) {
    this.#handler = handler;
    this.#registry = registry;
    this.#registryOnly = outboundTrafficPolicy === 'REGISTRY_ONLY';
  }

  /**
   * Whether a call to `authority` is the mesh's business. False only for a host outside the mesh
   * under ALLOW_ANY that is not known, not to be asked of a source that finds services on demand,
   * and declared by no ServiceEntry (whose VirtualService and DestinationRule would apply): the
   * adapter then sends it with the client's own transport, as if there were no mesh (Istio's
   * pass-through).
   */
  intercepts(authority: string, scheme: 'http' | 'https' = 'http'): boolean {
    return (
      this.#registryOnly ||
      this.#registry.lookup(authority) !== undefined ||
      this.#registry.mayFindOnDemand(authority) ||
      this.#registry.outsideService(authority, scheme) !== undefined
    );
  }

  /**
   * Sends a call down the client pipeline. `timeoutMs` > 0 sets the call's own deadline;
   * `overrides` are the call's own settings from code (timeout, retries).
   */
  send(request: WeftRequest, timeoutMs = 0, signal?: AbortSignal, overrides?: CallOverrides): Promise<WeftResponse> {
    if (this.#closed) {
      return Promise.reject(
        new WeftError('WEFT_ERR_CLOSED', `the mesh is closed; call to ${request.authority} not sent`, {
          service: request.authority,
        }),
      );
    }
    const ctx = new ClientCallContext(timeoutMs > 0 ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY, signal);
    if (timeoutMs > 0) ctx.ownLimitMs = timeoutMs;
    if (overrides !== undefined) ctx.overrides = overrides;
    const inbound = inboundCalls.getStore();
    if (inbound !== undefined && inbound.deadline !== Number.POSITIVE_INFINITY)
      ctx.inheritedDeadline = inbound.deadline;
    return this.#handler(request, ctx);
  }

  close(): void {
    this.#closed = true;
  }
}
