import { describe, expect, it } from 'vitest';
import { parseText } from '../source/parse.js';
import { checkDocument } from '../validate.js';

const ruleYaml = (annotation: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  annotations:
    weft.io/outlier-detection: '${annotation}'
spec:
  host: reviews
`;

function check(yaml: string, file = 'rules.yaml') {
  const [doc] = parseText(yaml, file).documents;
  return checkDocument(doc as never, 'default');
}

const ANNOTATION = "metadata.annotations['weft.io/outlier-detection']";

describe('the weft.io/outlier-detection annotation', () => {
  it('accepts either algorithm, both, any part of each, or empty blocks (their defaults)', () => {
    const full =
      '{"successRateEjection": {"stdevFactor": 1900, "enforcementPercentage": 100, "minimumHosts": 5, "requestVolume": 100},' +
      ' "failurePercentageEjection": {"threshold": 85, "enforcementPercentage": 100, "minimumHosts": 5, "requestVolume": 50}}';
    expect(check(ruleYaml(full)).problems).toEqual([]);
    expect(check(ruleYaml('{"successRateEjection": {}}')).problems).toEqual([]);
    expect(check(ruleYaml('{"failurePercentageEjection": {"threshold": 50}}')).problems).toEqual([]);
  });

  it('names the field inside the JSON, the line of the annotation and what would be valid, for every bad value', () => {
    const { problems } = check(
      ruleYaml(
        '{"successRateEjection": {"stdevFactor": -1, "enforcementPercentage": 101, "minimumHosts": 0, "requestVolume": 2.5},' +
          ' "failurePercentageEjection": {"threshold": 150, "enforcementPercentage": "all", "minimumHost": 5}, "interval": "1s"}',
      ),
    );
    const at = (field: string) => `${ANNOTATION}.${field}`;
    expect(problems.map((p) => [p.code, p.path, p.expected])).toEqual(
      expect.arrayContaining([
        ['WEFT_ERR_POLICY_VALUE', at('successRateEjection.stdevFactor'), 'at least 0'],
        ['WEFT_ERR_POLICY_PERCENT', at('successRateEjection.enforcementPercentage'), 'an integer from 0 to 100'],
        ['WEFT_ERR_POLICY_VALUE', at('successRateEjection.minimumHosts'), 'an integer of 1 or more (5 by default)'],
        [expect.stringMatching(/^WEFT_ERR_POLICY_/), at('successRateEjection.requestVolume'), expect.any(String)],
        ['WEFT_ERR_POLICY_PERCENT', at('failurePercentageEjection.threshold'), 'an integer from 0 to 100'],
        [
          'WEFT_ERR_POLICY_FIELD_TYPE',
          at('failurePercentageEjection.enforcementPercentage'),
          expect.stringMatching(/number/),
        ],
        ['WEFT_ERR_POLICY_FIELD_UNKNOWN', at('failurePercentageEjection.minimumHost'), expect.any(String)],
        ['WEFT_ERR_POLICY_FIELD_UNKNOWN', at('interval'), expect.any(String)],
      ]),
    );
    expect(problems).toHaveLength(8);
    for (const p of problems) {
      expect(p.severity).toBe('error');
      expect(p.source).toMatch(/^rules\.yaml:6:/);
      expect(p.resource).toBe('DestinationRule default/reviews');
    }
    expect(problems.find((p) => p.path.endsWith('minimumHost'))?.message).toContain('did you mean "minimumHosts"');
  });

  it('says when the value is not JSON at all', () => {
    const [problem] = check(ruleYaml('{successRateEjection: {}}')).problems;
    expect(problem).toMatchObject({
      code: 'WEFT_ERR_POLICY_VALUE',
      path: ANNOTATION,
      message: expect.stringMatching(/^not JSON/),
      expected: expect.stringContaining('successRateEjection'),
    });
  });
});

describe("the concise form's outlierDetection", () => {
  it('carries A50 ejection as the annotation and keeps Istio fields in the DestinationRule', () => {
    const { resources, problems } = check(
      'service: reviews\noutlierDetection:\n  consecutive5xxErrors: 3\n  successRateEjection: { stdevFactor: 1000 }\n',
      'svc.yaml',
    );
    expect(problems).toEqual([]);
    expect(resources[0]?.annotations).toEqual({
      'weft.io/outlier-detection': '{"successRateEjection":{"stdevFactor":1000}}',
    });
    expect(resources[0]?.spec).toEqual({
      host: 'reviews',
      trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 } },
    });
  });

  it('with only A50 blocks, writes no Istio outlierDetection (whose defaults would turn consecutive 5xx on)', () => {
    const { resources } = check('service: reviews\noutlierDetection: { failurePercentageEjection: {} }\n', 'svc.yaml');
    expect(resources[0]?.annotations).toEqual({ 'weft.io/outlier-detection': '{"failurePercentageEjection":{}}' });
    expect(resources[0]?.spec).toEqual({ host: 'reviews' });
  });

  it('reports a bad A50 value at the concise field, with its line', () => {
    const { problems } = check(
      'service: reviews\noutlierDetection:\n  failurePercentageEjection:\n    threshold: 120\n',
      'svc.yaml',
    );
    expect(problems).toEqual([
      expect.objectContaining({
        code: 'WEFT_ERR_POLICY_PERCENT',
        path: 'outlierDetection.failurePercentageEjection.threshold',
        source: expect.stringMatching(/^svc\.yaml:4:/),
        expected: 'an integer from 0 to 100',
      }),
    ]);
  });
});
