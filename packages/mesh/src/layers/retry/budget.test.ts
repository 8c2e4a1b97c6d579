import { describe, expect, it } from 'vitest';
import { ConcurrentRetryBudget, WindowedRetryBudget } from './budget.js';

describe('WindowedRetryBudget', () => {
  it('allows minRetriesPerSecond × ttl plus percentCanRetry of the calls, over the window', () => {
    const now = 1_000_000;
    const budget = new WindowedRetryBudget({ percentCanRetry: 0.2, minRetriesPerSecond: 1, ttlMs: 10_000 }, () => now);
    for (let i = 0; i < 100; i++) budget.deposit();
    let granted = 0;
    while (budget.tryWithdraw() && granted < 1_000) granted++;
    expect(granted).toBe(10 + 20);
  });

  it('forgets calls and retries older than the window', () => {
    let now = 5_000_000;
    const budget = new WindowedRetryBudget({ percentCanRetry: 0, minRetriesPerSecond: 1, ttlMs: 3_000 }, () => now);
    let granted = 0;
    while (budget.tryWithdraw() && granted < 100) granted++;
    expect(granted).toBe(3);
    now += 3_000;
    expect(budget.tryWithdraw()).toBe(true);
  });
});

describe('ConcurrentRetryBudget', () => {
  it('allows retries in flight up to max(minRetryConcurrency, percent of calls in flight)', () => {
    const budget = new ConcurrentRetryBudget(20, 3);
    for (let i = 0; i < 50; i++) budget.deposit();
    let granted = 0;
    while (budget.tryWithdraw() && granted < 100) granted++;
    expect(granted).toBe(10);
    budget.release();
    expect(budget.tryWithdraw()).toBe(true);
    const quiet = new ConcurrentRetryBudget(20, 3);
    quiet.deposit();
    expect([quiet.tryWithdraw(), quiet.tryWithdraw(), quiet.tryWithdraw(), quiet.tryWithdraw()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });
});
