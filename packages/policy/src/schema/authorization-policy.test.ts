import { describe, expect, it } from 'vitest';
import { parseText } from '../source/parse.js';
import { checkDocument } from '../validate.js';

function problemsOf(spec: string) {
  const yaml = `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\nspec:\n${spec}`;
  const [doc] = parseText(yaml, 'authz.yaml').documents;
  return checkDocument(doc as never, 'default').problems.filter((p) => p.severity === 'error');
}

describe('AuthorizationPolicy checks', () => {
  it('names a condition key weft cannot read, with the keys it can', () => {
    const [problem] = problemsOf(`  rules:\n  - when:\n    - key: request.header[x-token]\n      values: ["a"]\n`);
    expect(problem).toMatchObject({
      code: 'WEFT_ERR_POLICY_VALUE',
      path: 'spec.rules[0].when[0].key',
      source: 'authz.yaml:8:7',
      expected: expect.stringContaining('request.headers[<name>]'),
    });
  });

  it('checks IP blocks, ports, path templates and principals where they stand', () => {
    const problems = problemsOf(
      [
        '  rules:',
        '  - from:',
        '    - source:',
        '        ipBlocks: ["10.0.0.0/33"]',
        '        principals: ["spiffe://cluster.local/ns/default/sa/productpage"]',
        '    to:',
        '    - operation:',
        '        ports: ["http"]',
        '        paths: ["/books/{**}/reviews"]',
        '    when:',
        '    - key: source.ip',
        '      values: ["not-an-ip"]',
        '',
      ].join('\n'),
    );
    expect(problems.map((p) => [p.path, p.source])).toEqual([
      ['spec.rules[0].from[0].source.ipBlocks[0]', 'authz.yaml:9:20'],
      ['spec.rules[0].from[0].source.principals[0]', 'authz.yaml:10:22'],
      ['spec.rules[0].to[0].operation.ports[0]', 'authz.yaml:13:17'],
      ['spec.rules[0].to[0].operation.paths[0]', 'authz.yaml:14:17'],
      ['spec.rules[0].when[0].values[0]', 'authz.yaml:17:16'],
    ]);
    expect(problems[1]?.expected).toBe('"cluster.local/ns/default/sa/productpage"');
  });

  it('accepts the Bookinfo policies from Istio’s documentation', () => {
    expect(
      problemsOf(
        [
          '  selector:',
          '    matchLabels:',
          '      app: reviews',
          '  action: ALLOW',
          '  rules:',
          '  - from:',
          '    - source:',
          '        principals: ["cluster.local/ns/default/sa/bookinfo-productpage"]',
          '    to:',
          '    - operation:',
          '        methods: ["GET"]',
          '',
        ].join('\n'),
      ),
    ).toEqual([]);
  });
});
