/** Distribution of a sample: what the benchmarks print instead of single timings. */
export interface Distribution {
  runs: number;
  minInMs: number;
  p50InMs: number;
  p90InMs: number;
  p99InMs: number;
  maxInMs: number;
}

/** Nearest-rank percentile (p in 0..100) of an unsorted sample. */
export function percentile(sample: readonly number[], p: number): number {
  if (sample.length === 0) return Number.NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Summarises a sample of durations in milliseconds. */
export function distribution(sample: readonly number[]): Distribution {
  return {
    runs: sample.length,
    minInMs: round(Math.min(...sample)),
    p50InMs: round(percentile(sample, 50)),
    p90InMs: round(percentile(sample, 90)),
    p99InMs: round(percentile(sample, 99)),
    maxInMs: round(Math.max(...sample)),
  };
}

/**
 * Median of the ratios `a[i] / b[i]` of paired samples (each pair measured back to back, so under the same load):
 * on a shared machine whose load drifts, a steadier comparison than the ratio of two medians. Rounded to 3 digits.
 */
export function medianPairedRatio(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length === 0) throw new Error("paired samples must have the same, non-zero length");
  const ratios = a.map((x, i) => x / b[i]!).sort((x, y) => x - y);
  const middle = Math.floor(ratios.length / 2);
  const median = ratios.length % 2 === 1 ? ratios[middle]! : (ratios[middle - 1]! + ratios[middle]!) / 2;
  return round(median, 3);
}

/** `a / b` rounded to 3 digits; NaN when b is 0. */
export function ratio(a: number, b: number): number {
  return b === 0 ? Number.NaN : round(a / b, 3);
}

/** Renders rows as a fixed-width text table (first row = header). */
export function table(rows: readonly (readonly (string | number | boolean)[])[]): string {
  const text = rows.map((r) => r.map((c) => String(c)));
  const widths = text[0]!.map((_, i) => Math.max(...text.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(text[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...text.slice(1).map(line)].join("\n");
}
