/** Small timing helpers shared by the benchmarks. */
export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

export function percentiles(samples: number[]): Percentiles {
  if (samples.length === 0) return { p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, mean: Number.NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return {
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
}

export async function timeIt(iterations: number, warmup: number, fn: () => unknown): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return samples;
}

export function table(header: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toFixed(2) : c)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export interface CaseTiming {
  name: string;
  p50Ms: number;
  p95Ms: number;
}

/** Times each named case in turn (warm-up first) and reports its p50 and p95. */
export async function measureCases(
  cases: Array<[string, () => unknown]>,
  iterations: number,
  warmup: number,
): Promise<CaseTiming[]> {
  const rows: CaseTiming[] = [];
  for (const [name, run] of cases) {
    const { p50, p95 } = percentiles(await timeIt(iterations, warmup, run));
    rows.push({ name, p50Ms: p50, p95Ms: p95 });
  }
  return rows;
}
