import type { BucketConfig, EmulatorConfig, FaultScript } from "./config.js";

export type RequestCategory = "reads" | "writes" | "deletes";

export function categoryOf(method: string): RequestCategory {
  if (method === "GET" || method === "HEAD") return "reads";
  if (method === "DELETE") return "deletes";
  return "writes";
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** ARM's per-subscription token buckets: one each for reads, writes and deletes, regional and global. */
export class Throttler {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly config: () => EmulatorConfig["throttling"]) {}

  private refill(key: string, cfg: BucketConfig, nowMs: number): Bucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: cfg.burst, updatedMs: nowMs };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(cfg.burst, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * cfg.perSecond);
    bucket.updatedMs = nowMs;
    return bucket;
  }

  /**
   * Takes a token from the subscription's regional and global buckets. Returns the tokens left (for
   * `x-ms-ratelimit-remaining-subscription-*` and `...-global-*`) or, when throttled, the seconds until a token is
   * available (for `Retry-After`). A throttled request takes no token.
   */
  take(
    subscriptionId: string,
    category: RequestCategory,
    nowMs: number,
  ): { remaining: number; globalRemaining: number; retryAfterInSeconds?: number } {
    const config = this.config();
    const sub = subscriptionId.toLowerCase();
    const regional = this.refill(`${sub}|${category}`, config[category], nowMs);
    const global = this.refill(`${sub}|global|${category}`, config.global[category], nowMs);
    if (!config.enabled) {
      return { remaining: config[category].burst - 1, globalRemaining: config.global[category].burst - 1 };
    }
    const short = [
      { bucket: regional, cfg: config[category] },
      { bucket: global, cfg: config.global[category] },
    ].filter(({ bucket }) => bucket.tokens < 1);
    if (short.length > 0) {
      const wait = Math.max(
        ...short.map(({ bucket, cfg }) => (cfg.perSecond > 0 ? Math.ceil((1 - bucket.tokens) / cfg.perSecond) : 60)),
      );
      return {
        remaining: Math.floor(regional.tokens),
        globalRemaining: Math.floor(global.tokens),
        retryAfterInSeconds: Math.max(1, wait),
      };
    }
    regional.tokens -= 1;
    global.tokens -= 1;
    return { remaining: Math.floor(regional.tokens), globalRemaining: Math.floor(global.tokens) };
  }

  reset(): void {
    this.buckets.clear();
  }
}

/** Request counters by operation name plus totals. */
export class Counters {
  operations: Record<string, number> = {};
  reads = 0;
  writes = 0;
  deletes = 0;
  throttled = 0;
  faulted = 0;
  unauthenticated = 0;

  count(operation: string, category: RequestCategory): void {
    this.operations[operation] = (this.operations[operation] ?? 0) + 1;
    this[category] += 1;
  }

  snapshot(): Record<string, unknown> {
    return {
      operations: { ...this.operations },
      reads: this.reads,
      writes: this.writes,
      deletes: this.deletes,
      total: this.reads + this.writes + this.deletes,
      throttled: this.throttled,
      faulted: this.faulted,
      unauthenticated: this.unauthenticated,
    };
  }

  reset(): void {
    this.operations = {};
    this.reads = this.writes = this.deletes = this.throttled = this.faulted = this.unauthenticated = 0;
  }
}

/** Decides whether a request gets an injected error: scripted ones first, then random rates. */
export class FaultInjector {
  scripts: FaultScript[] = [];

  constructor(
    private readonly config: () => EmulatorConfig["faults"],
    private readonly random: () => number = Math.random,
  ) {}

  pick(operation: string): FaultScript["status"] | undefined {
    const script = this.scripts.find((s) => s.count > 0 && (s.operation === "*" || s.operation === operation));
    if (script) {
      script.count -= 1;
      this.scripts = this.scripts.filter((s) => s.count > 0);
      return script.status;
    }
    const cfg = this.config();
    if (cfg.operations.length > 0 && !cfg.operations.includes(operation)) return undefined;
    const roll = this.random();
    let threshold = 0;
    for (const status of [429, 500, 503] as const) {
      threshold += cfg.rates[status];
      if (roll < threshold) return status;
    }
    return undefined;
  }
}
