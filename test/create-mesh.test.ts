// createMesh as a user meets it: a bad option is refused at once, naming the option and what would be valid.
import { createMesh, isWeftError, type WeftError } from '@weft/mesh';
import { describe, expect, it } from 'vitest';

describe('createMesh', () => {
  it('refuses bad options before anything starts, listing every problem with its option path', async () => {
    const error = (await createMesh({
      service: 'Product_Page',
      discovery: { static: { reviews: ['127.0.0.1'] } },
      timeotMs: 100,
    } as never).catch((e: unknown) => e)) as WeftError;
    expect(isWeftError(error, 'WEFT_ERR_CONFIG_INVALID')).toBe(true);
    expect(error.problems.map((p) => `${p.code} ${p.path}`)).toEqual([
      'WEFT_ERR_SERVICE_NAME service',
      'WEFT_ERR_ADDRESS discovery.static.reviews[0]',
      'WEFT_ERR_OPTION_UNKNOWN timeotMs',
    ]);
    expect(error.message).toContain('did you mean "timeoutMs"?');
    expect(error.message).toContain('expected "host:port"');
  });

  it('refuses a missing service name', async () => {
    await expect(createMesh({} as never)).rejects.toMatchObject({
      code: 'WEFT_ERR_CONFIG_INVALID',
      problems: [expect.objectContaining({ code: 'WEFT_ERR_OPTION_REQUIRED', path: 'service' })],
    });
  });

  it('registers static services under their fully qualified names', async () => {
    const mesh = await createMesh({
      service: 'productpage',
      namespace: 'books',
      discovery: { static: { reviews: ['127.0.0.1:1'], 'ratings.shared': ['127.0.0.1:2'] } },
    });
    expect(mesh.registry.snapshots().map((s) => [s.service, s.endpoints.map((e) => e.address)])).toEqual([
      ['reviews.books.svc.cluster.local', ['127.0.0.1:1']],
      ['ratings.shared.svc.cluster.local', ['127.0.0.1:2']],
    ]);
    expect(mesh.options.labels).toEqual({ app: 'productpage' });
    await mesh.close();
  });

  it('refuses a URL where mesh.axios wants a service name', async () => {
    const mesh = await createMesh({ service: 'productpage' });
    expect(() => mesh.axios('http://reviews/')).toThrow(expect.objectContaining({ code: 'WEFT_ERR_OPTION_VALUE' }));
    await mesh.close();
  });
});
