// The policy store: reads the sources, compiles a snapshot, swaps it in whole, and keeps the last good one when a change is bad.

import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { debuglog } from 'node:util';
import { type ConfigProblem, configError, type WeftError } from '@weft/core';
import { type AnalyzeOptions, analyze } from './analyze.js';
import { PolicySnapshot, type SnapshotOptions } from './snapshot.js';
import { type PolicyInput, type ReadSource, readSources } from './source/load.js';
import { checkDocument, duplicateProblems, type PolicyResource } from './validate.js';

const debug = debuglog('weft');

export interface PolicyStoreOptions extends SnapshotOptions {
  /** Directory relative paths are read from; default the process's working directory. */
  cwd?: string;
  /** Watch file sources and reload when they change; default true. */
  watch?: boolean;
  /** Quiet time after a file change before reloading, in ms; default 50. */
  reloadDebounceMs?: number;
  /** Log a rejected load (as a process warning of type WeftPolicyWarning); default true. */
  logRejections?: boolean;
  /**
   * What analysis may assume on each load: hosts discovery knows, workloads' labels. Findings
   * are kept on the snapshot (`findings`) and never block a load: a route to a subset that a
   * later update defines is fine meanwhile.
   */
  analysisContext?: () => Pick<AnalyzeOptions, 'knownHosts' | 'workloads'>;
}

/** The result of reading and checking sources, before anything is swapped in. */
export interface Compiled {
  resources: PolicyResource[];
  problems: ConfigProblem[];
  sources: string[];
  watch: string[];
  /** The policy files read, in order (a file that could not be read is among them). */
  files: string[];
}

/** Reads and checks an input: every problem of every source, and the resources, later sources replacing earlier ones by key. */
export async function compileInput(input: PolicyInput | undefined, namespace: string, cwd?: string): Promise<Compiled> {
  const read: ReadSource[] = await readSources(input, cwd);
  const problems: ConfigProblem[] = [];
  const merged = new Map<string, PolicyResource>();
  for (const source of read) {
    problems.push(...source.problems);
    const own: PolicyResource[] = [];
    for (const doc of source.documents) {
      const checked = checkDocument(doc, namespace);
      problems.push(...checked.problems);
      own.push(...checked.resources);
    }
    problems.push(...duplicateProblems(own));
    for (const r of own) merged.set(r.key, r);
  }
  return {
    resources: [...merged.values()],
    problems,
    sources: read.map((s) => s.name),
    watch: [...new Set(read.flatMap((s) => s.watch))],
    files: [...new Set(read.flatMap((s) => s.files))],
  };
}

type Listener<T> = (value: T) => void;

/**
 * Owns the active PolicySnapshot. A load either succeeds whole (a new snapshot, version + 1,
 * swapped in one assignment: a call in flight keeps the snapshot it read) or is rejected
 * whole (the last good snapshot keeps serving; the error is kept in `lastError`, counted,
 * sent to `onError` listeners and emitted as a process warning).
 */
export class PolicyStore {
  readonly #options: PolicyStoreOptions;
  #input: PolicyInput | undefined;
  #current: PolicySnapshot;
  #lastError: WeftError | undefined = undefined;
  #loads = 0;
  #rejections = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #watchers = new Map<string, FSWatcher>();
  #reloadTimer: NodeJS.Timeout | undefined = undefined;
  #closed = false;
  readonly #onChange = new Set<Listener<PolicySnapshot>>();
  readonly #onError = new Set<Listener<WeftError>>();

  constructor(options: PolicyStoreOptions) {
    this.#options = options;
    this.#current = new PolicySnapshot(0, [], [], [], options);
  }

  /** The active snapshot. Read it once per call and keep it: it never changes underneath. */
  current(): PolicySnapshot {
    return this.#current;
  }

  /** The error of the last rejected load, until a load succeeds. */
  get lastError(): WeftError | undefined {
    return this.#lastError;
  }

  /** Loads that made a snapshot, and loads rejected. */
  get counters(): { loads: number; rejections: number } {
    return { loads: this.#loads, rejections: this.#rejections };
  }

  /**
   * Replaces the whole policy input (objects, files, directories, globs, as createMesh's
   * `policy` takes them) and loads it. Resolves with the new snapshot; rejects with
   * WEFT_ERR_CONFIG_INVALID, leaving the last good snapshot (and input) in place.
   */
  update(input: PolicyInput | undefined): Promise<PolicySnapshot> {
    return this.#enqueue(async () => {
      const snapshot = await this.#load(input);
      this.#input = input;
      return snapshot;
    });
  }

  /** Reads the current input again (what a file change does). */
  reload(): Promise<PolicySnapshot> {
    return this.#enqueue(() => this.#load(this.#input));
  }

  onChange(listener: Listener<PolicySnapshot>): () => void {
    this.#onChange.add(listener);
    return () => this.#onChange.delete(listener);
  }

  onError(listener: Listener<WeftError>): () => void {
    this.#onError.add(listener);
    return () => this.#onError.delete(listener);
  }

  /** Stops watching files. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#reloadTimer);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #load(input: PolicyInput | undefined): Promise<PolicySnapshot> {
    const compiled = await compileInput(input, this.#options.namespace, this.#options.cwd);
    this.#watch(compiled.watch);
    if (compiled.problems.some((p) => p.severity === 'error')) {
      const error = configError(compiled.problems);
      this.#lastError = error;
      this.#rejections++;
      for (const listener of this.#onError) listener(error);
      // Logged with the full report whenever a good snapshot keeps serving; the first load's
      // error goes to createMesh's caller instead.
      if (this.#loads > 0 && this.#options.logRejections !== false) {
        process.emitWarning(`policy load rejected; the last good policy keeps serving.\n${error.message}`, {
          type: 'WeftPolicyWarning',
          code: error.code,
        });
      }
      throw error;
    }
    const warnings = compiled.problems.filter((p) => p.severity === 'warning');
    const findings = analyze(compiled.resources, {
      namespace: this.#options.namespace,
      clusterDomain: this.#options.clusterDomain,
      ...this.#options.analysisContext?.(),
    });
    const snapshot = new PolicySnapshot(
      this.#current.version + 1,
      compiled.sources,
      compiled.resources,
      warnings,
      this.#options,
      findings,
    );
    this.#current = snapshot;
    this.#lastError = undefined;
    this.#loads++;
    for (const listener of this.#onChange) listener(snapshot);
    return snapshot;
  }

  /** Watches the directories of file sources (a directory survives editors that replace files by renaming). */
  #watch(paths: string[]): void {
    if (this.#options.watch === false || this.#closed) return;
    const wanted = new Map<string, Set<string> | 'all'>();
    for (const path of paths) {
      if (/\.(ya?ml|json)$/i.test(path)) {
        const dir = dirname(path);
        const names = wanted.get(dir);
        if (names !== 'all') wanted.set(dir, new Set([...(names ?? []), basename(path)]));
      } else {
        wanted.set(path, 'all');
      }
    }
    for (const [dir, watcher] of this.#watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of wanted.keys()) {
      if (this.#watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: false }, (_event, file) => {
          const current = wanted.get(dir);
          const name = file === null ? undefined : String(file);
          if (current !== 'all' && name !== undefined && !current?.has(name)) return;
          if (current === 'all' && name !== undefined && !/\.(ya?ml|json)$/i.test(name)) return;
          this.#scheduleReload();
        });
        watcher.on('error', (error) => debug('policy watch of %s failed: %o', dir, error));
        this.#watchers.set(dir, watcher);
      } catch (error) {
        debug('cannot watch %s: %o', dir, error);
      }
    }
  }

  #scheduleReload(): void {
    if (this.#closed) return;
    clearTimeout(this.#reloadTimer);
    this.#reloadTimer = setTimeout(() => {
      // A rejected reload is counted, logged and sent to onError by #load itself.
      this.reload().then(
        (snapshot) => debug('policy reloaded: version %d', snapshot.version),
        () => {},
      );
    }, this.#options.reloadDebounceMs ?? 50);
    this.#reloadTimer.unref();
  }
}
