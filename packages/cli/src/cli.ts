// The weft command: arguments parsed, the command run, its findings written, the exit status decided.
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { suggest } from '@weft/policy';
import { runCa } from './ca-command.js';
import { type CheckOptions, check } from './check.js';
import { DESCRIBE_HELP, describe, formatDescription } from './describe.js';
import { readLines } from './excerpt.js';
import { counts, formatJson, formatText, type Report } from './format.js';
import { ANALYZE_HELP, MAIN_HELP, VALIDATE_HELP } from './help.js';

/** Where a run writes, and what it reads of its process; tests pass their own. */
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  /** Default `process.env` (read for NO_COLOR). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default `process.cwd()`. */
  cwd?: string;
}

export const EXIT = {
  /** No errors; warnings alone are clean. */
  clean: 0,
  /** Errors were found. */
  errors: 1,
  /** The check could not run: a bad flag, no path, a path that cannot be read. */
  unusable: 2,
} as const;

const COMMON = {
  help: { type: 'boolean', short: 'h' },
  output: { type: 'string', short: 'o', default: 'text' },
  namespace: { type: 'string', short: 'n', default: 'default' },
  'cluster-domain': { type: 'string', default: 'cluster.local' },
} as const;

const COMMANDS = {
  validate: { help: VALIDATE_HELP, options: COMMON },
  analyze: {
    help: ANALYZE_HELP,
    options: {
      ...COMMON,
      'known-host': { type: 'string', multiple: true },
      workload: { type: 'string', multiple: true },
    },
  },
} as const;
type Command = keyof typeof COMMANDS;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A flag the user got wrong: reported on stderr with a pointer to the help, exit 2. */
class UsageError extends Error {}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** `app=reviews,version=v1` as labels. */
function parseWorkload(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--workload "${text}": expected labels as KEY=VALUE pairs joined by commas`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

/** What a command line asks for once its flags are checked. */
interface Invocation {
  output: 'text' | 'json';
  check: CheckOptions;
}

/** The command's flags and paths, checked; throws UsageError. */
function parseCommand(command: Command, args: string[], cwd: string): Invocation | 'help' {
  const flags: NonNullable<ParseArgsConfig['options']> = COMMANDS[command].options;
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: flags, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message.split('. ')[0] as string;
    const flag = /'(--?[^' ]+)/.exec(message)?.[1];
    const names = Object.keys(flags).map((o) => `--${o}`);
    const near = flag === undefined ? undefined : suggest(flag, names);
    throw new UsageError(`${message}${near === undefined ? '' : `; did you mean ${near}?`}`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return 'help';
  const output = values.output as string;
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output "${output}": expected text or json`);
  const namespace = values.namespace as string;
  if (!DNS_LABEL.test(namespace))
    throw new UsageError(`--namespace "${namespace}": expected a DNS label (lower-case letters, digits and "-")`);
  const clusterDomain = values['cluster-domain'] as string;
  if (!DNS_NAME.test(clusterDomain))
    throw new UsageError(`--cluster-domain "${clusterDomain}": expected a DNS name such as cluster.local`);
  if (positionals.length === 0) throw new UsageError('no PATH given: name policy files, directories or globs');
  const options: CheckOptions = { paths: positionals, cwd, namespace, clusterDomain, analyze: command === 'analyze' };
  const hosts = values['known-host'] as string[] | undefined;
  if (hosts !== undefined) {
    const empty = hosts.find((h) => h.trim() === '');
    if (empty !== undefined) throw new UsageError('--known-host "": expected a host name');
    options.knownHosts = hosts;
  }
  const workloads = values['workload'] as string[] | undefined;
  if (workloads !== undefined) options.workloads = workloads.map(parseWorkload);
  return { output, check: options };
}

function wantsColor(io: CliIo): boolean {
  const noColor = (io.env ?? process.env).NO_COLOR;
  return io.stdout.isTTY === true && (noColor === undefined || noColor === '');
}

/** The exit status of a report: a path that could not be read outranks errors in what was read. */
function exitStatus(report: Report): number {
  if (report.problems.some((p) => p.code === 'WEFT_ERR_POLICY_SOURCE')) return EXIT.unusable;
  return counts(report.problems).errors > 0 ? EXIT.errors : EXIT.clean;
}

/** Runs `weft ARGV...` and resolves with its exit status; writes only to `io`, never exits the process. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr.write(MAIN_HELP);
    return EXIT.unusable;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = rest[0];
    io.stdout.write(topic !== undefined && topic in COMMANDS ? COMMANDS[topic as Command].help : MAIN_HELP);
    return EXIT.clean;
  }
  if (first === 'ca') return runCa(rest, io);
  if (first === 'describe') return runDescribe(rest, io);
  if (first === '--version') {
    io.stdout.write(`${version()}\n`);
    return EXIT.clean;
  }
  if (!(first in COMMANDS)) {
    const what = first.startsWith('-') ? `unknown flag ${first} before the command` : `unknown command "${first}"`;
    const near = suggest(first, [...Object.keys(COMMANDS), 'ca', 'describe']);
    io.stderr.write(
      `weft: ${what}${near === undefined ? '' : `; did you mean "${near}"?`}\nRun "weft --help" for usage.\n`,
    );
    return EXIT.unusable;
  }
  const command = first as Command;
  const cwd = io.cwd ?? process.cwd();
  let invocation: Invocation | 'help';
  try {
    invocation = parseCommand(command, rest, cwd);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`weft ${command}: ${error.message}\nRun "weft ${command} --help" for usage.\n`);
    return EXIT.unusable;
  }
  if (invocation === 'help') {
    io.stdout.write(COMMANDS[command].help);
    return EXIT.clean;
  }
  let report: Report;
  try {
    report = await check(invocation.check);
  } catch (error) {
    io.stderr.write(`weft ${command}: could not run: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.unusable;
  }
  if (invocation.output === 'json') {
    io.stdout.write(formatJson(report));
  } else {
    const lines = await readLines(report.problems.map((p) => p.source));
    io.stdout.write(formatText(report, { cwd, color: wantsColor(io), lines }));
  }
  return exitStatus(report);
}

/** `weft describe [--admin URL] [--output text|json] SERVICE`. */
async function runDescribe(args: readonly string[], io: CliIo): Promise<number> {
  let parsed: { values: { admin?: string; output?: string; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        admin: { type: 'string', default: 'http://127.0.0.1:15000' },
        output: { type: 'string', short: 'o', default: 'text' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }) as typeof parsed;
  } catch (error) {
    io.stderr.write(
      `weft describe: ${(error as Error).message.split('. ')[0]}\nRun "weft describe --help" for usage.\n`,
    );
    return EXIT.unusable;
  }
  if (parsed.values.help === true) {
    io.stdout.write(DESCRIBE_HELP);
    return EXIT.clean;
  }
  const [service] = parsed.positionals;
  const output = parsed.values.output;
  if (service === undefined || parsed.positionals.length > 1 || (output !== 'text' && output !== 'json')) {
    io.stderr.write(
      'weft describe: give one SERVICE, and --output text or json\nRun "weft describe --help" for usage.\n',
    );
    return EXIT.unusable;
  }
  const admin = parsed.values.admin as string;
  let description: Awaited<ReturnType<typeof describe>>;
  try {
    description = await describe(admin, service);
  } catch (error) {
    io.stderr.write(`weft describe: cannot read the admin endpoint ${admin}: ${(error as Error).message}\n`);
    return EXIT.unusable;
  }
  if (description === undefined) {
    io.stderr.write(`weft describe: the mesh at ${admin} knows no service "${service}" (no endpoints, no policy)\n`);
    return EXIT.errors;
  }
  io.stdout.write(output === 'json' ? `${JSON.stringify(description, null, 2)}\n` : formatDescription(description));
  return EXIT.clean;
}
