import { describe, expect, it } from 'vitest';
import { parseText } from '../source/parse.js';
import { checkDocument } from '../validate.js';

const ruleYaml = (annotation: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  annotations:
    weft.io/breaker: '${annotation}'
spec:
  host: reviews
`;

function problemsOf(yaml: string) {
  const [doc] = parseText(yaml, 'rules.yaml').documents;
  return checkDocument(doc as never, 'default').problems;
}

describe('the weft.io/breaker annotation', () => {
  it('accepts the settings, any part of them, or false', () => {
    expect(problemsOf(ruleYaml('{"failurePercent": 40, "minimumCalls": 10, "window": "5s", "openFor": "2s"}'))).toEqual(
      [],
    );
    expect(problemsOf(ruleYaml('{"openFor": "30s"}'))).toEqual([]);
    expect(problemsOf(ruleYaml('false'))).toEqual([]);
  });

  it('names the field inside the JSON, the line of the annotation and what would be valid', () => {
    const problems = problemsOf(ruleYaml('{"failurePercent": 150, "openfor": "2s", "window": "soon"}'));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'WEFT_ERR_POLICY_PERCENT',
          path: "metadata.annotations['weft.io/breaker'].failurePercent",
          source: expect.stringMatching(/^rules\.yaml:6:/),
          expected: 'a number from 1 to 100',
        }),
        expect.objectContaining({
          code: 'WEFT_ERR_POLICY_FIELD_UNKNOWN',
          message: expect.stringContaining('did you mean "openFor"'),
        }),
        expect.objectContaining({
          code: 'WEFT_ERR_POLICY_DURATION',
          path: "metadata.annotations['weft.io/breaker'].window",
        }),
      ]),
    );
    expect(problems.every((p) => p.severity === 'error')).toBe(true);
  });

  it('says when the value is not JSON at all', () => {
    const [problem] = problemsOf(ruleYaml('{failurePercent: 50}'));
    expect(problem).toMatchObject({ code: 'WEFT_ERR_POLICY_VALUE', message: expect.stringMatching(/^not JSON/) });
  });

  it('is what the concise form compiles `breaker` to', () => {
    const doc = parseText('service: reviews\nbreaker: { failurePercent: 25, openFor: 1s }\n', 'svc.yaml').documents[0];
    const { resources, problems } = checkDocument(doc as never, 'default');
    expect(problems).toEqual([]);
    expect(resources[0]?.annotations).toEqual({ 'weft.io/breaker': '{"failurePercent":25,"openFor":"1s"}' });
  });
});
