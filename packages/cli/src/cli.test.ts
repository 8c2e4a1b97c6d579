// The weft command run in-process on policy files written to a temporary directory.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliIo, run, version } from './cli.js';

const VIRTUAL_SERVICE = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: { host: reviews, subset: v1 }
`;

const DESTINATION_RULE = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets:
  - name: v1
    labels: { version: v1 }
  - name: v2
    labels: { version: v2 }
`;

// "rout" is on line 7, column 5.
const MISSPELLED = VIRTUAL_SERVICE.replace('  - route:', '  - rout:');

const SYNTAX_ERROR = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews
spec:
  hosts: [reviews]
`;

// Weights that add up to 80 are read relatively: a warning, not an error.
const WEIGHTS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: weighted }
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: { host: ratings }
      weight: 50
    - destination: { host: ratings }
      weight: 30
`;

// subset v3 is on line 8, column 37; the DestinationRule defines v1 and v2.
const UNKNOWN_SUBSET = VIRTUAL_SERVICE.replace('subset: v1', 'subset: v3');

const AUTHORIZATION_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reviews }
spec:
  selector:
    matchLabels: { app: reviews }
  action: ALLOW
`;

let dir: string;

async function write(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, text);
  return path;
}

interface Ran {
  code: number;
  out: string;
  err: string;
}

async function weft(args: string[], io: Partial<Pick<CliIo, 'env'>> & { tty?: boolean } = {}): Promise<Ran> {
  let out = '';
  let err = '';
  const code = await run(args, {
    stdout: {
      write: (text: string) => {
        out += text;
      },
      isTTY: io.tty ?? false,
    },
    stderr: {
      write: (text: string) => {
        err += text;
      },
    },
    env: io.env ?? {},
    cwd: dir,
  });
  return { code, out, err };
}

async function weftJson(args: string[]): Promise<{ code: number; report: Record<string, unknown> & JsonReport }> {
  const { code, out, err } = await weft([...args, '--output', 'json']);
  expect(err).toBe('');
  return { code, report: JSON.parse(out) };
}

/** The codes of a report, less the warnings for fields weft does not act on yet (they shrink as weft grows). */
function codes(report: JsonReport): string[] {
  return report.problems.map((p) => p.code).filter((c) => c !== 'WEFT_WARN_POLICY_UNIMPLEMENTED');
}

interface JsonReport {
  problems: { code: string; source: string; path: string; severity: string; resource?: string }[];
  errors: number;
  warnings: number;
  files: string[];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-cli-'));
  await write('good/virtual-service.yaml', VIRTUAL_SERVICE);
  await write('good/destination-rule.yaml', DESTINATION_RULE);
  await write('misspelled.yaml', MISSPELLED);
  await write('syntax.yaml', SYNTAX_ERROR);
  await write('weights.yaml', WEIGHTS);
  await write('subset/virtual-service.yaml', UNKNOWN_SUBSET);
  await write('subset/destination-rule.yaml', DESTINATION_RULE);
  await write('authorization-policy.yaml', AUTHORIZATION_POLICY);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('weft validate', () => {
  it('exits 0 and reports no problems for a valid VirtualService and DestinationRule', async () => {
    const { code, out, err } = await weft(['validate', 'good']);
    expect(err).toBe('');
    expect(out).not.toMatch(/^error /m);
    expect(out).toMatch(/^(no problems|0 errors, \d+ warnings?) in 2 files\n$/m);
    expect(code).toBe(0);
  });

  it('exits 1 on a misspelled field, naming file:line:col and putting a caret under the field', async () => {
    const { code, out } = await weft(['validate', 'misspelled.yaml']);
    expect(code).toBe(1);
    const lines = out.split('\n');
    expect(lines[0]).toBe(
      'error WEFT_ERR_POLICY_FIELD_UNKNOWN  misspelled.yaml:7:5  VirtualService default/reviews  spec.http[0].rout',
    );
    expect(lines[1]).toContain('unknown field "rout"; did you mean "route"?');
    const at = lines.indexOf('  7 |   - rout:');
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe('    |     ^');
    expect(out).toMatch(/^\d+ errors?, 0 warnings in 1 file$/m);
  });

  it('reports a YAML syntax error with its line and column, and exits 1', async () => {
    const { code, report } = await weftJson(['validate', 'syntax.yaml']);
    expect(code).toBe(1);
    expect(report.problems[0]?.code).toBe('WEFT_ERR_POLICY_PARSE');
    expect(report.problems[0]?.source).toMatch(/syntax\.yaml:\d+:\d+$/);
  });

  it('exits 2 when a path does not exist, still reporting what it read', async () => {
    const { code, out } = await weft(['validate', 'good', 'missing.yaml']);
    expect(code).toBe(2);
    expect(out).toContain('error WEFT_ERR_POLICY_SOURCE  missing.yaml  (file)');
    expect(out).toContain('no such file or directory');
    expect(out).toMatch(/^1 error, \d+ warnings? in 2 files$/m);
  });

  it('treats warnings alone as clean', async () => {
    const { code, report } = await weftJson(['validate', 'weights.yaml']);
    expect(codes(report)).toEqual(['WEFT_WARN_ROUTE_WEIGHT_SUM']);
    expect(report.errors).toBe(0);
    expect(code).toBe(0);
  });

  it('prints the problems, the counts and the files read as JSON with --output json', async () => {
    const { code, report } = await weftJson(['validate', 'misspelled.yaml', 'weights.yaml']);
    expect(Object.keys(report)).toEqual(['problems', 'errors', 'warnings', 'files']);
    expect(report.files).toEqual([join(dir, 'misspelled.yaml'), join(dir, 'weights.yaml')]);
    expect(report.errors).toBe(report.problems.filter((p) => p.severity === 'error').length);
    expect(report.warnings).toBe(report.problems.filter((p) => p.severity === 'warning').length);
    expect(codes(report)).toContain('WEFT_WARN_ROUTE_WEIGHT_SUM');
    expect(report.problems[0]).toMatchObject({
      code: 'WEFT_ERR_POLICY_FIELD_UNKNOWN',
      source: `${join(dir, 'misspelled.yaml')}:7:5`,
      path: 'spec.http[0].rout',
      resource: 'VirtualService default/reviews',
      severity: 'error',
    });
    expect(code).toBe(1);
  });

  it('gives resources without a namespace the one of --namespace', async () => {
    const { report } = await weftJson(['validate', '--namespace', 'bookinfo', 'misspelled.yaml']);
    expect(report.problems[0]?.resource).toBe('VirtualService bookinfo/reviews');
  });

  it('colours its output only when stdout is a terminal and NO_COLOR is not set', async () => {
    const ESC = '\u001b[';
    expect((await weft(['validate', 'misspelled.yaml'], { tty: true })).out).toContain(ESC);
    expect((await weft(['validate', 'misspelled.yaml'], { tty: true, env: { NO_COLOR: '1' } })).out).not.toContain(ESC);
    expect((await weft(['validate', 'misspelled.yaml'], { tty: false })).out).not.toContain(ESC);
  });
});

describe('weft analyze', () => {
  it('exits 0 for resources that agree with each other', async () => {
    const { code, report } = await weftJson(['analyze', 'good']);
    expect(codes(report)).toEqual([]);
    expect(code).toBe(0);
  });

  it('exits 1 on a route to a subset no DestinationRule defines, pointing at the subset', async () => {
    const { code, out } = await weft(['analyze', 'subset']);
    expect(code).toBe(1);
    expect(out).toContain(
      'error WEFT_ANALYZE_SUBSET_UNKNOWN  subset/virtual-service.yaml:8:37  VirtualService default/reviews  spec.http[0].route[0].destination.subset',
    );
    expect(out).toContain('\n    |                                     ^\n');
  });

  it('reports validation problems too, and analyses the resources that loaded', async () => {
    const { report } = await weftJson(['analyze', 'misspelled.yaml', 'subset/virtual-service.yaml']);
    expect(codes(report)).toContain('WEFT_ERR_POLICY_FIELD_UNKNOWN');
    expect(codes(report)).toContain('WEFT_ANALYZE_SUBSET_UNKNOWN');
  });

  it('checks destination hosts only against the hosts given with --known-host', async () => {
    const unchecked = await weftJson(['analyze', 'weights.yaml']);
    expect(codes(unchecked.report)).not.toContain('WEFT_ANALYZE_HOST_UNKNOWN');
    const unknown = await weftJson(['analyze', '--known-host', 'reviews', 'weights.yaml']);
    expect(codes(unknown.report)).toContain('WEFT_ANALYZE_HOST_UNKNOWN');
    expect(unknown.code).toBe(0);
    const known = await weftJson(['analyze', '--known-host', 'reviews', '--known-host', 'ratings', 'weights.yaml']);
    expect(codes(known.report)).not.toContain('WEFT_ANALYZE_HOST_UNKNOWN');
  });

  it('checks selectors against the workloads given with --workload', async () => {
    const none = await weftJson(['analyze', '--workload', 'app=ratings,version=v1', 'authorization-policy.yaml']);
    expect(codes(none.report)).toEqual(['WEFT_ANALYZE_SELECTOR_NO_MATCH']);
    const match = await weftJson([
      'analyze',
      '--workload',
      'app=ratings',
      '--workload',
      'app=reviews',
      'authorization-policy.yaml',
    ]);
    expect(codes(match.report)).toEqual([]);
  });
});

describe('usage', () => {
  it('exits 2 with the usage on stderr when given nothing', async () => {
    const { code, out, err } = await weft([]);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('Usage:');
  });

  it('exits 2 when a command is given no path', async () => {
    const { code, err } = await weft(['validate', '--output', 'json']);
    expect(code).toBe(2);
    expect(err).toContain('no PATH given');
  });

  it('exits 2 on an unknown flag and suggests the nearest one', async () => {
    const { code, out, err } = await weft(['validate', '--ouptut', 'json', 'good']);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain("'--ouptut'");
    expect(err).toContain('did you mean --output?');
  });

  it('exits 2 on a flag of analyze given to validate', async () => {
    expect((await weft(['validate', '--known-host', 'reviews', 'good'])).code).toBe(2);
  });

  it('exits 2 on an output format it does not know', async () => {
    const { code, err } = await weft(['validate', '--output', 'yaml', 'good']);
    expect(code).toBe(2);
    expect(err).toContain('expected text or json');
  });

  it('exits 2 on a namespace that is not a DNS label', async () => {
    expect((await weft(['validate', '--namespace', 'Book_Info', 'good'])).code).toBe(2);
  });

  it('exits 2 on a workload that is not KEY=VALUE pairs', async () => {
    const { code, err } = await weft(['analyze', '--workload', 'app', 'good']);
    expect(code).toBe(2);
    expect(err).toContain('KEY=VALUE');
  });

  it('exits 2 on an unknown command and suggests the nearest one', async () => {
    const { code, err } = await weft(['valdiate', 'good']);
    expect(code).toBe(2);
    expect(err).toContain('did you mean "validate"?');
  });

  it('prints help for weft and for each command, naming every flag, the exit codes and an example', async () => {
    const main = await weft(['--help']);
    expect(main.code).toBe(0);
    expect(main.out).toContain('validate');
    expect(main.out).toContain('analyze');
    expect(main.out).toContain('--version');
    for (const command of ['validate', 'analyze']) {
      const { code, out } = await weft([command, '--help']);
      expect(code).toBe(0);
      for (const flag of ['--output', '--namespace', '--cluster-domain', '--help', 'Exit status:', 'Example:'])
        expect(out).toContain(flag);
      expect(out.includes('--known-host')).toBe(command === 'analyze');
      expect(out.includes('--workload')).toBe(command === 'analyze');
      expect((await weft(['help', command])).out).toBe(out);
    }
  });

  it('prints the package version with --version', async () => {
    const { code, out } = await weft(['--version']);
    expect(code).toBe(0);
    expect(out).toBe(`${version()}\n`);
    expect(version()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
