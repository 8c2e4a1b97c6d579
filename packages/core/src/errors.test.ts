import { describe, expect, it } from 'vitest';
import { causedBy, configError, ERROR_CODES, isWeftError, WeftError } from './errors.js';

describe('WeftError', () => {
  it('carries the status, flag and retryability of its code', () => {
    const e = new WeftError('WEFT_ERR_NO_HEALTHY_UPSTREAM', 'none', { service: 'reviews' });
    expect(e).toMatchObject({ code: 'WEFT_ERR_NO_HEALTHY_UPSTREAM', status: 503, flag: 'UH', retryable: true });
    expect(e.service).toBe('reviews');
    expect(e.name).toBe('WeftError');
  });

  it('is recognised by its brand even when it is not an instance of this copy of the class', () => {
    const e = new WeftError('WEFT_ERR_TIMEOUT', 'late');
    const copy = Object.create(Object.getPrototypeOf(e));
    Object.assign(copy, { code: 'WEFT_ERR_TIMEOUT' });
    expect(isWeftError(copy, 'WEFT_ERR_TIMEOUT')).toBe(true);
    expect(isWeftError({ code: 'WEFT_ERR_TIMEOUT' })).toBe(false);
    expect(isWeftError(new Error('x'))).toBe(false);
    expect(isWeftError(null)).toBe(false);
  });

  it('finds a code anywhere in the cause chain', () => {
    const inner = new WeftError('WEFT_ERR_UPSTREAM_CONNECT', 'refused');
    const outer = new Error('wrapped', { cause: new Error('middle', { cause: inner }) });
    expect(causedBy(outer, 'WEFT_ERR_UPSTREAM_CONNECT')).toBe(true);
    expect(causedBy(outer, 'WEFT_ERR_TIMEOUT')).toBe(false);
  });

  it('lists every error of a configuration load in one message', () => {
    const e = configError([
      { code: 'WEFT_ERR_OPTION_UNKNOWN', source: 'here', path: 'a', message: 'unknown', severity: 'error' },
      { code: 'WEFT_ERR_ADDRESS', source: 'here', path: 'b[0]', message: 'bad', found: '"x"', severity: 'error' },
      { code: 'WEFT_ERR_OPTION_VALUE', source: 'here', path: 'c', message: 'odd', severity: 'warning' },
    ]);
    expect(e.code).toBe('WEFT_ERR_CONFIG_INVALID');
    expect(e.message).toContain('2 configuration errors');
    expect(e.message).toContain('WEFT_ERR_ADDRESS at here b[0]: bad; found "x"');
    expect(e.problems).toHaveLength(3);
  });

  it('declares a status for every code', () => {
    for (const spec of Object.values(ERROR_CODES)) expect(spec.status).toBeGreaterThanOrEqual(400);
  });
});
