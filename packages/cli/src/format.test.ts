// Text and JSON output of a report, on problems written by hand.
import type { ConfigProblem } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { displayPath, formatJson, formatText, summary } from './format.js';

const FILE = '/srv/policy/reviews.yaml';
const LINES = new Map([[FILE, ['apiVersion: networking.istio.io/v1', 'spec:', '  hosts: [Reviews]']]]);

const HOST: ConfigProblem = {
  code: 'WEFT_ERR_POLICY_HOST',
  source: `${FILE}:3:11`,
  path: 'spec.hosts[0]',
  resource: 'VirtualService default/reviews',
  message: 'not a valid host',
  found: '"Reviews"',
  expected: 'a lower-case DNS name',
  severity: 'error',
};

const WARNING: ConfigProblem = {
  code: 'WEFT_WARN_ROUTE_WEIGHT_SUM',
  source: 'policy[0]',
  path: 'spec.http[0].route',
  message: 'the weights add up to 80, not 100',
  severity: 'warning',
};

const plain = { cwd: '/srv', color: false, lines: LINES };

describe('formatText', () => {
  it('writes the header, the message, found and expected, and the line with a caret under the column', () => {
    expect(formatText({ problems: [HOST], files: [FILE] }, plain)).toBe(
      [
        'error WEFT_ERR_POLICY_HOST  policy/reviews.yaml:3:11  VirtualService default/reviews  spec.hosts[0]',
        '  not a valid host',
        '  found: "Reviews"',
        '  expected: a lower-case DNS name',
        '  3 |   hosts: [Reviews]',
        '    |           ^',
        '',
        '1 error, 0 warnings in 1 file',
        '',
      ].join('\n'),
    );
  });

  it('leaves out the excerpt when the source is not a file location', () => {
    expect(formatText({ problems: [WARNING], files: [] }, plain)).toBe(
      [
        'warning WEFT_WARN_ROUTE_WEIGHT_SUM  policy[0]  spec.http[0].route',
        '  the weights add up to 80, not 100',
        '',
        '0 errors, 1 warning in 0 files',
        '',
      ].join('\n'),
    );
  });

  it('leaves out the excerpt when the file could not be read', () => {
    const text = formatText({ problems: [HOST], files: [] }, { ...plain, lines: new Map() });
    expect(text).not.toContain(' | ');
  });

  it('colours only when asked to', () => {
    expect(formatText({ problems: [HOST], files: [FILE] }, plain)).not.toContain('\u001b[');
    expect(formatText({ problems: [HOST], files: [FILE] }, { ...plain, color: true })).toContain('\u001b[31m');
  });
});

describe('summary', () => {
  it('says there are no problems when there are none', () => {
    expect(summary({ problems: [], files: ['a.yaml', 'b.yaml'] })).toBe('no problems in 2 files');
  });

  it('counts errors and warnings apart', () => {
    expect(summary({ problems: [HOST, HOST, WARNING], files: [FILE] })).toBe('2 errors, 1 warning in 1 file');
  });
});

describe('formatJson', () => {
  it('holds the problems as given, the counts and the files', () => {
    expect(JSON.parse(formatJson({ problems: [HOST, WARNING], files: [FILE] }))).toEqual({
      problems: [HOST, WARNING],
      errors: 1,
      warnings: 1,
      files: [FILE],
    });
  });
});

describe('displayPath', () => {
  it('shortens paths under the working directory and keeps the others', () => {
    expect(displayPath('/srv/policy/a.yaml', '/srv')).toBe('policy/a.yaml');
    expect(displayPath('/etc/weft/a.yaml', '/srv')).toBe('/etc/weft/a.yaml');
    expect(displayPath('policy[0]', '/srv')).toBe('policy[0]');
  });
});
