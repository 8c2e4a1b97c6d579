// Counters of what the mesh's security refused, by reason: for mesh.stats() now, Prometheus later.

export interface SecurityStatsView {
  /** Connections refused at the socket or TLS layer, by reason. */
  tlsRefused: Record<string, number>;
  /** Calls denied by authorization, by the policy that denied (or `(no ALLOW policy matched)`). */
  denied: Record<string, number>;
  /** Calls an AUDIT policy matched. */
  audited: number;
  /** Calls refused for an invalid JWT. */
  unauthenticated: number;
  /** Outbound connections not used because the endpoint's certificate named the wrong identity (secure naming). */
  peerIdentityRefused: number;
}

export class SecurityStats {
  readonly #tlsRefused = new Map<string, number>();
  readonly #denied = new Map<string, number>();
  #audited = 0;
  #unauthenticated = 0;
  #peerIdentityRefused = 0;

  tlsRefused(reason: string): void {
    this.#tlsRefused.set(reason, (this.#tlsRefused.get(reason) ?? 0) + 1);
  }

  denied(policy: string | undefined): void {
    const key = policy ?? '(no ALLOW policy matched)';
    this.#denied.set(key, (this.#denied.get(key) ?? 0) + 1);
  }

  audited(): void {
    this.#audited++;
  }

  unauthenticated(): void {
    this.#unauthenticated++;
  }

  peerIdentityRefused(): void {
    this.#peerIdentityRefused++;
  }

  view(): SecurityStatsView {
    return {
      tlsRefused: Object.fromEntries(this.#tlsRefused),
      denied: Object.fromEntries(this.#denied),
      audited: this.#audited,
      unauthenticated: this.#unauthenticated,
      peerIdentityRefused: this.#peerIdentityRefused,
    };
  }
}
