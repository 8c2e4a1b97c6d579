// What validate and analyze run: the policy files read and checked, and for analyze the findings across resources.
import { type AnalyzeOptions, analyze, compileInput } from '@weft/policy';
import type { Report } from './format.js';

export interface CheckOptions {
  /** Files, directories and globs, as given on the command line. */
  paths: string[];
  /** Directory relative paths and globs are read from. */
  cwd: string;
  /** Namespace of resources that give none. */
  namespace: string;
  clusterDomain: string;
  /** Run the cross-resource analysis on the resources that loaded. */
  analyze: boolean;
  /** Hosts discovery knows; `undefined` leaves destination hosts unchecked. */
  knownHosts?: string[];
  /** Labels of the known workloads; `undefined` leaves selectors unchecked. */
  workloads?: Record<string, string>[];
}

/** Reads and checks the paths. Never throws for a bad policy: everything wrong is a problem in the report. */
export async function check(options: CheckOptions): Promise<Report> {
  const compiled = await compileInput(options.paths, options.namespace, options.cwd);
  const problems = [...compiled.problems];
  if (options.analyze) {
    const analysis: AnalyzeOptions = {
      namespace: options.namespace,
      clusterDomain: options.clusterDomain,
    };
    if (options.knownHosts !== undefined) analysis.knownHosts = options.knownHosts;
    if (options.workloads !== undefined) analysis.workloads = options.workloads;
    problems.push(...analyze(compiled.resources, analysis));
  }
  return { problems, files: compiled.files };
}
