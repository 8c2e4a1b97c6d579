import { describe, expect, it } from 'vitest';
import { parseText } from './parse.js';

const text = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
---
# an empty document is skipped
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
`;

describe('parseText', () => {
  it('reads every document of a multi-document file, skipping empty ones', () => {
    const { documents, errors } = parseText(text, 'vs.yaml');
    expect(errors).toEqual([]);
    expect(documents.map((d) => (d.value as { kind: string }).kind)).toEqual(['VirtualService', 'DestinationRule']);
    expect(documents[1]?.origin).toBe('vs.yaml:16');
  });

  it('locates a field at its line and column, and a missing one at the nearest field that exists', () => {
    const [vs] = parseText(text, 'vs.yaml').documents;
    expect(vs?.locate(['spec', 'http', 0, 'route', 0, 'destination', 'subset'])).toBe('vs.yaml:12:9');
    expect(vs?.locate(['spec', 'hosts', 0])).toBe('vs.yaml:7:5');
    expect(vs?.locate(['spec', 'http', 0, 'timeout'])).toBe('vs.yaml:9:5');
  });

  it('reads JSON as well', () => {
    const { documents } = parseText('{"kind": "DestinationRule",\n "spec": {"host": "ratings"}}', 'dr.json');
    expect(documents[0]?.locate(['spec', 'host'])).toBe('dr.json:2:11');
  });

  it('reports syntax errors with their position instead of throwing', () => {
    const { documents, errors } = parseText('kind: A\nkind: B\n', 'dup.yaml');
    expect(documents).toEqual([]);
    expect(errors[0]?.origin).toBe('dup.yaml:2:1');
    expect(errors[0]?.message).toMatch(/unique/i);
    expect(parseText('a: [1, 2\n', 'open.yaml').errors.length).toBeGreaterThan(0);
    expect(parseText('*nowhere\n', 'alias.yaml').errors[0]?.message).toMatch(/alias/i);
  });
});
