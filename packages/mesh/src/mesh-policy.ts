// mesh.policy: the policy store, plus explain(), which needs the mesh's registry and routing to answer.
import { PolicyStore, type PolicyStoreOptions } from '@weft/policy';
import type { ServiceRegistry } from './discovery/registry.js';
import { type ExplainRequest, type Explanation, explain } from './routing/explain.js';
import type { SourceWorkload } from './routing/model.js';

export interface MeshPolicyContext {
  registry: ServiceRegistry;
  source: SourceWorkload;
  timeoutMs: number;
  registryOnly: boolean;
}

export class MeshPolicy extends PolicyStore {
  readonly #mesh: MeshPolicyContext;
  readonly #clusterDomain: string;

  constructor(options: PolicyStoreOptions, mesh: MeshPolicyContext) {
    super(options);
    this.#mesh = mesh;
    this.#clusterDomain = options.clusterDomain;
  }

  /**
   * Which VirtualService and route a request would match (or why none does), where it would
   * go, and which timeout, retry and balancing settings apply, each with where it came from:
   * the answer to "my config silently does nothing". Reads the active snapshot; sends nothing.
   */
  explain(request: ExplainRequest): Explanation {
    return explain(request, this.current(), this.#mesh.registry, this.#mesh.source, {
      timeoutMs: this.#mesh.timeoutMs,
      clusterDomain: this.#clusterDomain,
      registryOnly: this.#mesh.registryOnly,
    });
  }
}
