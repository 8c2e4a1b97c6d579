import { describe, expect, it } from 'vitest';
import { CallContext } from './context.js';
import { compose, type Handler, type Layer } from './handler.js';
import type { WeftRequest } from './model.js';

const request: WeftRequest = { method: 'GET', scheme: 'http', authority: 'svc', path: '/', headers: {}, body: null };

function tracing(role: string, log: string[]): Layer {
  return {
    role,
    wrap: (next: Handler): Handler => {
      log.push(`wrap ${role}`);
      return async (req, ctx) => {
        log.push(`enter ${role}`);
        const res = await next(req, ctx);
        log.push(`leave ${role}`);
        return res;
      };
    },
  };
}

describe('compose', () => {
  it('lets the first layer see the request first and the response last', async () => {
    const log: string[] = [];
    const handler = compose([tracing('outer', log), tracing('inner', log)], async () => {
      log.push('terminal');
      return { status: 204, headers: {}, body: null };
    });
    expect(log).toEqual(['wrap inner', 'wrap outer']);
    log.length = 0;
    const res = await handler(request, new CallContext());
    expect(res.status).toBe(204);
    expect(log).toEqual(['enter outer', 'enter inner', 'terminal', 'leave inner', 'leave outer']);
  });

  it('returns the terminal itself when there are no layers', () => {
    const terminal: Handler = async () => ({ status: 200, headers: {}, body: null });
    expect(compose([], terminal)).toBe(terminal);
  });
});

describe('CallContext', () => {
  it('has no deadline unless given one', () => {
    expect(new CallContext().remainingMs()).toBe(Number.POSITIVE_INFINITY);
    const ctx = new CallContext(Date.now() + 1000);
    expect(ctx.remainingMs()).toBeGreaterThan(900);
    expect(ctx.remainingMs()).toBeLessThanOrEqual(1000);
  });
});
