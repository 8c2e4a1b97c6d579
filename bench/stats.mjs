// Small statistics for the harness: percentiles of sorted latencies, medians across rounds, the summary table.

/** The `q` (0…1) quantile of an ascending array, nearest rank; `NaN` when empty. */
export function quantile(sorted, q) {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
}

const sorted = (values) => [...values].filter(Number.isFinite).sort((a, b) => a - b);

export function median(values) {
  const s = sorted(values);
  const n = s.length;
  if (n === 0) return Number.NaN;
  return n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Per pair: the medians of each variant over its rounds, and weft/plain throughput against its goal (`goalOf(pair)`). */
export function summarize(runs, pairs, goalOf) {
  return pairs.map((pair) => {
    const of = (variant) => runs.filter((r) => r.pair === pair && r.variant === variant && r.error === undefined);
    const side = (variant) => {
      const rs = of(variant);
      return {
        rounds: rs.length,
        rps: median(rs.map((r) => r.rps)),
        p50Ms: median(rs.map((r) => r.p50Ms)),
        p99Ms: median(rs.map((r) => r.p99Ms)),
        clientCpuUsPerReq: median(rs.map((r) => r.clientCpuUsPerReq)),
        serverCpuUsPerReq: median(rs.map((r) => r.serverCpuUsPerReq)),
        bothCpuUsPerReq: median(rs.map((r) => r.clientCpuUsPerReq + r.serverCpuUsPerReq)),
        // New connections the server saw per 1,000 requests: with TLS, each is a handshake.
        connectionsPer1k: median(rs.map((r) => (r.connections / r.requests) * 1000)),
        errors: rs.reduce((sum, r) => sum + r.errors, 0),
      };
    };
    const plain = side('plain');
    const weft = side('weft');
    // Ratios of the two variants measured back to back: each round's (separate runs), or each pair of
    // windows taken in turn (interleaved runs, which carry their windows).
    const roundRatios = [];
    const windowRatios = [];
    for (const r of of('weft')) {
      const p = of('plain').find((x) => x.round === r.round);
      if (p === undefined) continue;
      roundRatios.push(r.rps / p.rps);
      if (r.windows === undefined || p.windows === undefined) continue;
      for (let i = 0; i < Math.min(r.windows.length, p.windows.length); i++) {
        // A window in which either side completed nothing says nothing about the ratio.
        if (r.windows[i].requests > 0 && p.windows[i].requests > 0)
          windowRatios.push(r.windows[i].rps / p.windows[i].rps);
      }
    }
    // Interleaved: the median of the windows' ratios, and their middle half as the spread; separate:
    // the ratio of the median throughputs, and the rounds' lowest and highest ratios.
    const interleaved = windowRatios.length > 0;
    const ratio = interleaved ? median(windowRatios) : weft.rps / plain.rps;
    const inOrder = sorted(windowRatios);
    const spread = interleaved
      ? [quantile(inOrder, 0.25), quantile(inOrder, 0.75)]
      : roundRatios.length === 0
        ? []
        : [Math.min(...roundRatios), Math.max(...roundRatios)];
    // Cores other processes took during this pair's windows: a pair measured on a busy machine says so.
    const otherCoresMax = Math.max(...runs.filter((r) => r.pair === pair).map((r) => r.otherCores ?? 0));
    const goal = goalOf(pair);
    return {
      pair,
      plain,
      weft,
      ratio,
      interleaved,
      spread,
      roundRatios,
      windowRatios,
      otherCoresMax,
      goal,
      meetsGoal: ratio >= goal,
    };
  });
}

const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const fixed = (n, digits) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
// Ratios are cut, not rounded, so 0.897 never shows as a goal-meeting 0.90.
const ratio = (n) => (Number.isFinite(n) ? (Math.floor(n * 100) / 100).toFixed(2) : '–');

/** The summary as a Markdown table, ready to paste into docs/performance.md. */
export function formatTable(summary, pairs) {
  const lines = [
    '| pair | side | plain req/s | weft req/s | weft/plain | spread | p50 ms plain → weft | p99 ms plain → weft | CPU µs/req plain → weft | goal met |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|:-:|',
  ];
  for (const s of summary) {
    const side = pairs[s.pair].side;
    const cpu = side === 'client' ? 'clientCpuUsPerReq' : side === 'both' ? 'bothCpuUsPerReq' : 'serverCpuUsPerReq';
    const ratios = s.spread.length === 0 ? '–' : `${ratio(s.spread[0])}–${ratio(s.spread[1])}`;
    lines.push(
      `| ${s.pair} | ${side} | ${int(s.plain.rps)} | ${int(s.weft.rps)} | **${ratio(s.ratio)}** | ${ratios} | ` +
        `${fixed(s.plain.p50Ms, 2)} → ${fixed(s.weft.p50Ms, 2)} | ${fixed(s.plain.p99Ms, 2)} → ${fixed(s.weft.p99Ms, 2)} | ` +
        `${fixed(s.plain[cpu], 0)} → ${fixed(s.weft[cpu], 0)} | ${s.meetsGoal ? 'yes' : '**no**'} (≥ ${s.goal.toFixed(2)}) |`,
    );
  }
  for (const s of summary) {
    if (pairs[s.pair].side !== 'both') continue;
    lines.push(
      '',
      `${s.pair}: CPU is of client and server together; connections (TLS handshakes) per 1,000 requests: ` +
        `${fixed(s.plain.connectionsPer1k, 2)} plain → ${fixed(s.weft.connectionsPer1k, 2)} weft.`,
    );
  }
  return lines.join('\n');
}
