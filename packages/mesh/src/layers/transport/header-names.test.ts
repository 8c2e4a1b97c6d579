// undici taught the header names weft writes: the table it reads is the one changed, and what goes on the wire is unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMesh, type Mesh } from '../../index.js';
import { headerLines, rawServer } from '../../testing/raw-server.js';
import { addHeaderNames, teachUndiciHeaderNames, undiciHeaderTable } from './header-names.js';

describe('teachUndiciHeaderNames', () => {
  it("finds undici's table of the header names it knows", () => {
    // Fails when an undici upgrade moves the table: the fast path for weft's headers would be lost silently.
    const table = undiciHeaderTable();
    expect(table).toBeDefined();
    expect(table?.['content-type']).toBe('content-type');
    expect(table?.['Content-Type']).toBe('content-type');
  });

  it('adds lower-case tokens only, once, and leaves the names undici knows as they are', () => {
    const table = undiciHeaderTable() as Record<string, string | undefined>;
    expect(table['x-weft-test-taught']).toBeUndefined();
    const added = teachUndiciHeaderNames(['x-weft-test-taught', 'X-Weft-Test-Upper', 'x weft', 'x-weft:bad', 'accept']);
    expect(added).toBe(1);
    expect(table['x-weft-test-taught']).toBe('x-weft-test-taught');
    expect(table['X-Weft-Test-Upper']).toBeUndefined();
    expect(table['x weft']).toBeUndefined();
    expect(table['x-weft:bad']).toBeUndefined();
    expect(table.accept).toBe('accept');
    expect(teachUndiciHeaderNames(['x-weft-test-taught'])).toBe(0);
  });

  it('leaves a table that cannot take more names as it is (a later undici may freeze it)', () => {
    const frozen = Object.freeze({ accept: 'accept' }) as Record<string, string | undefined>;
    expect(addHeaderNames(frozen, ['x-request-id'])).toBe(0);
    expect(frozen['x-request-id']).toBeUndefined();
  });
});

describe('a mesh with tracing on', () => {
  let raw: Awaited<ReturnType<typeof rawServer>>;
  let mesh: Mesh;

  beforeAll(async () => {
    raw = await rawServer();
    mesh = await createMesh({
      service: 'client',
      discovery: { static: { reviews: [`127.0.0.1:${raw.port}`] } },
      logger: false,
    });
  });

  afterAll(async () => {
    await mesh.close();
    raw.server.close();
  });

  const get = (headers: Record<string, string>) =>
    mesh.request({ method: 'GET', scheme: 'http', authority: 'reviews', path: '/', headers, body: null });

  it('has taught undici the names of the headers it writes, and sends them as before', async () => {
    const table = undiciHeaderTable() as Record<string, string | undefined>;
    for (const name of ['x-request-id', 'traceparent', 'tracestate', 'baggage', 'b3', 'x-b3-traceid']) {
      expect(table[name]).toBe(name);
    }
    const response = await get({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    expect(response.status).toBe(204);
    const lines = headerLines(raw.heads.at(-1) as string);
    expect(lines.filter((line) => line.startsWith('traceparent: '))).toEqual([
      expect.stringMatching(/^traceparent: 00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/),
    ]);
    expect(lines.filter((line) => /^x-request-id: [0-9a-f-]{36}$/.test(line))).toHaveLength(1);
  });

  it('still has undici refuse a value of a taught name that is not a valid header value', async () => {
    const before = raw.heads.length;
    await expect(get({ 'x-request-id': 'id\r\nx-injected: yes' })).rejects.toThrow();
    expect(raw.heads.length).toBe(before);
  });
});
