// Tests of hash key extraction from Istio's consistentHash setting.
import type { WeftRequest } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { hashKeyOf } from './hash-key.js';

const request = (path: string, headers: WeftRequest['headers'] = {}): WeftRequest => ({
  method: 'GET',
  scheme: 'http',
  authority: 'reviews',
  path,
  headers,
  body: null,
});

describe('hashKeyOf', () => {
  it('reads the header named by httpHeaderName, whatever its case', () => {
    expect(hashKeyOf({ httpHeaderName: 'X-User' }, request('/', { 'x-user': 'alice' }), undefined)).toBe('alice');
    expect(hashKeyOf({ httpHeaderName: 'x-user' }, request('/'), undefined)).toBeUndefined();
  });

  it('hashes a repeated header the same whatever the order of its values', () => {
    const one = hashKeyOf({ httpHeaderName: 'x-user' }, request('/', { 'x-user': ['b', 'a'] }), undefined);
    const two = hashKeyOf({ httpHeaderName: 'x-user' }, request('/', { 'x-user': ['a', 'b'] }), undefined);
    expect(one).toBe(two);
  });

  it('reads the cookie named by httpCookie, and nothing when the request has none', () => {
    const setting = { httpCookie: { name: 'session' } };
    expect(hashKeyOf(setting, request('/', { cookie: 'a=1; session="s-42"; b=2' }), undefined)).toBe('s-42');
    expect(hashKeyOf(setting, request('/', { cookie: ['a=1', 'session=s-7'] }), undefined)).toBe('s-7');
    expect(hashKeyOf(setting, request('/', { cookie: 'sessionid=x' }), undefined)).toBeUndefined();
    expect(hashKeyOf(setting, request('/'), undefined)).toBeUndefined();
  });

  it('uses the source address when useSourceIp is set', () => {
    expect(hashKeyOf({ useSourceIp: true }, request('/'), '10.1.2.3')).toBe('10.1.2.3');
    expect(hashKeyOf({ useSourceIp: true }, request('/'), undefined)).toBeUndefined();
  });

  it('reads the first value of the query parameter named by httpQueryParameterName', () => {
    const setting = { httpQueryParameterName: 'user' };
    expect(hashKeyOf(setting, request('/p?x=1&user=bob&user=eve#top'), undefined)).toBe('bob');
    expect(hashKeyOf(setting, request('/p?user'), undefined)).toBe('');
    expect(hashKeyOf(setting, request('/p?username=bob'), undefined)).toBeUndefined();
    expect(hashKeyOf(setting, request('/p'), undefined)).toBeUndefined();
  });

  it('has no key when no key source is set', () => {
    expect(hashKeyOf({ maglev: { tableSize: 65537 } }, request('/'), '10.1.2.3')).toBeUndefined();
  });
});
