// A workload's identity over time: its key, certificate chain and trust bundle, renewed well before they expire.
import { WeftError } from '@weft/core';
import type { CertificateAuthority } from './ca.js';
import { createWorkloadKey } from './csr.js';

/** What a workload needs for mutual TLS at one moment. Replaced whole on each renewal. */
export interface Credentials {
  readonly spiffeId: string;
  readonly privateKeyPem: string;
  /** The workload's certificate and the CA chain above it. */
  readonly chainPem: string;
  /** The roots peers' chains are checked against. */
  readonly rootsPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Where credentials come from: a CA in this process, a CA server, files an outside issuer writes. */
export interface CredentialSource {
  /** Describes the source in messages: `local CA`, `CA server https://…`, `files /etc/certs`. */
  readonly name: string;
  /** New credentials (a new key and certificate, or the files' current content). */
  fetch(): Promise<Credentials>;
  /** For sources that change by themselves (files): calls `changed` on a change; returns a stop function. */
  watch?(changed: () => void): () => void;
}

/** A source that makes a key here and has `ca` (in this process) sign it: the embedded default. */
export function localCaSource(ca: CertificateAuthority, spiffeId: string, ttlMs?: number): CredentialSource {
  return {
    name: 'local CA',
    async fetch() {
      const key = await createWorkloadKey(spiffeId);
      const issued = await ca.sign({ csrPem: key.csrPem, spiffeId, ...(ttlMs === undefined ? {} : { ttlMs }) });
      return { ...issued, privateKeyPem: key.privateKeyPem };
    },
  };
}

const MAX_TIMER_MS = 2_147_483_647;

export const IDENTITY_DEFAULTS = {
  /** Renew when this share of the certificate's remaining life (at fetch time) has passed: Istio's grace ratio, 0.5. */
  renewAtFraction: 0.5,
  /** A failed renewal is tried again after this, doubling up to `maxRetryMs`. */
  retryMs: 1_000,
  maxRetryMs: 30_000,
} as const;

export interface IdentityOptions {
  renewAtFraction?: number;
  retryMs?: number;
  maxRetryMs?: number;
  /** Told of each failed renewal; the current credentials stay in use meanwhile. */
  onError?: (error: WeftError) => void;
}

/**
 * Keeps a workload's credentials fresh: fetches them from its source, renews them at
 * `renewAtFraction` of their life, retries a failed renewal with backoff while the current ones
 * keep serving, and tells listeners (the TLS server and client) of each new set. Connections
 * already open keep the credentials they were made with; new ones get the new set, so a renewal
 * fails no request.
 */
export class WorkloadIdentity {
  readonly source: CredentialSource;
  #current: Credentials;
  #timer: NodeJS.Timeout | undefined;
  #stopWatch: (() => void) | undefined;
  #closed = false;
  #failures = 0;
  #renewals = 0;
  readonly #listeners = new Set<(credentials: Credentials) => void>();
  readonly #options: Required<Omit<IdentityOptions, 'onError'>> & Pick<IdentityOptions, 'onError'>;

  private constructor(source: CredentialSource, first: Credentials, options: IdentityOptions) {
    this.source = source;
    this.#current = first;
    this.#options = { ...IDENTITY_DEFAULTS, ...options };
  }

  /** Fetches the first credentials (failing if it cannot) and schedules their renewal. */
  static async start(source: CredentialSource, options: IdentityOptions = {}): Promise<WorkloadIdentity> {
    const fraction = options.renewAtFraction ?? IDENTITY_DEFAULTS.renewAtFraction;
    if (!(fraction > 0 && fraction < 1)) {
      throw new WeftError(
        'WEFT_ERR_OPTION_VALUE',
        `renewAtFraction must be between 0 and 1 (exclusive), not ${fraction}`,
      );
    }
    const identity = new WorkloadIdentity(source, await source.fetch(), options);
    identity.#schedule(Date.now());
    identity.#stopWatch = source.watch?.(() => void identity.renew());
    return identity;
  }

  /** The credentials to use now. */
  get current(): Credentials {
    return this.#current;
  }

  /** Renewals made since start, and renewals that failed. */
  get renewals(): { done: number; failed: number } {
    return { done: this.#renewals, failed: this.#failures };
  }

  /** Calls `listener` with each new set of credentials; returns a function that stops it. */
  onRenew(listener: (credentials: Credentials) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Fetches new credentials now (also what the timer does); resolves once they are in use. */
  async renew(): Promise<void> {
    if (this.#closed) return;
    try {
      const next = await this.source.fetch();
      if (this.#closed) return;
      this.#current = next;
      this.#renewals++;
      this.#failures = 0;
      for (const listener of this.#listeners) listener(next);
      this.#schedule(Date.now());
    } catch (error) {
      this.#failures++;
      const wait = Math.min(this.#options.retryMs * 2 ** (this.#failures - 1), this.#options.maxRetryMs);
      this.#options.onError?.(
        new WeftError(
          'WEFT_ERR_CA',
          `renewing ${this.#current.spiffeId} from ${this.source.name} failed (attempt ${this.#failures}); the current certificate (until ${this.#current.notAfter.toISOString()}) stays in use, next try in ${wait} ms`,
          { cause: error },
        ),
      );
      this.#arm(wait);
    }
  }

  #schedule(fetchedAt: number): void {
    const remaining = this.#current.notAfter.getTime() - fetchedAt;
    this.#arm(Math.max(0, remaining * this.#options.renewAtFraction));
  }

  #arm(delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    // A timer can wait at most 2^31-1 ms (about 24 days); a longer wait is made of several.
    const due = Date.now() + delayMs;
    const step = (): void => {
      const left = due - Date.now();
      if (left > 0) this.#timer = setTimeout(step, Math.min(left, MAX_TIMER_MS)).unref();
      else void this.renew();
    };
    step();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#stopWatch?.();
    this.#listeners.clear();
  }
}
