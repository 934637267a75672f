import type { PipelinePolicy, PipelineResponse } from "@azure/core-rest-pipeline";

/** The three kinds of ARM request, each with its own token bucket per subscription (ARM throttling docs). */
export type ArmRequestKind = "reads" | "writes" | "deletes";

/**
 * ARM's subscription token buckets (learn.microsoft.com, "Understand how Azure Resource Manager throttles requests"):
 * per principal and subscription, reads 250 burst refilled at 25/s, writes and deletes 200 refilled at 10/s.
 */
export const armTokenBuckets: Record<ArmRequestKind, { burst: number; perSecond: number }> = {
  reads: { burst: 250, perSecond: 25 },
  writes: { burst: 200, perSecond: 10 },
  deletes: { burst: 200, perSecond: 10 },
};

/** Share of ARM's bucket every instance leaves untouched: below it, instances slow down together. */
export const armReserveFraction = 0.2;

/** How often an instance may halve its rate, how low it goes, and how fast it climbs back (see RequestPacer). */
const rateDecreaseIntervalInMs = 1000;
const minimumRatePerSecond = 0.5;
const rateIncreasePerSecond = 1;

/** The kind of an ARM request, as ARM counts it. */
export function kindOf(method: string): ArmRequestKind {
  if (method === "GET" || method === "HEAD") return "reads";
  return method === "DELETE" ? "deletes" : "writes";
}

interface PacerClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: PacerClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Paces one kind of ARM request for this process: its own token bucket (the configured rate), and ARM's word on the
 * subscription's shared bucket. Several instances of the app (Flex Consumption scales out) share that bucket with no
 * coordinator: each reads `x-ms-ratelimit-remaining-subscription-*` on every answer and, when the remainder falls
 * below the reserve, pauses until ARM's refill would have restored it, so that together they never empty it; a 429
 * pauses every request of the kind for its `Retry-After`. Callers are served in order.
 */
export class RequestPacer {
  private tokens: number;
  private last: number;
  private pausedUntil = 0;
  private queue: Promise<void> = Promise.resolve();
  /** The rate this instance allows itself now: `perSecond` at most, halved when ARM's bucket runs low. */
  private rate: number;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private lastIncreaseAt: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly clock: PacerClock = realClock,
    private readonly shared: { burst: number; perSecond: number } = armTokenBuckets.reads,
  ) {
    this.tokens = burst;
    this.last = this.clock.now();
    this.rate = perSecond;
    this.lastIncreaseAt = this.last;
  }

  /** The rate this instance allows itself now, in requests per second. */
  get currentRatePerSecond(): number {
    return this.rate;
  }

  /** Resolves when a request may go. */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.waitForToken());
    this.queue = turn;
    return turn;
  }

  /**
   * What ARM said of the shared bucket: the tokens it has left, or that it throttled (`retryAfterInSeconds`).
   * Returns the pause it imposed, in milliseconds (0 when none).
   */
  observe(answer: { remaining?: number; retryAfterInSeconds?: number }): number {
    const now = this.clock.now();
    let until = this.pausedUntil;
    const reserve = this.shared.burst * armReserveFraction;
    // Only ARM's word on the shared bucket lowers the pace: a 429 that says the bucket is still full (a resource
    // provider's own throttle, a transient fault) pauses for its Retry-After but says nothing of the other instances.
    const { remaining } = answer;
    const low = remaining !== undefined && remaining < reserve;
    if (low) {
      // Every instance sees about the same remainder and waits about as long: the bucket refills meanwhile.
      until = Math.max(until, now + ((reserve - remaining) / this.shared.perSecond) * 1000);
    }
    if (answer.retryAfterInSeconds !== undefined) until = Math.max(until, now + answer.retryAfterInSeconds * 1000);
    this.pausedUntil = until;
    this.adaptRate(now, low, answer.remaining);
    return Math.max(0, until - now);
  }

  /**
   * Additive increase, multiplicative decrease, as TCP shares a link without a coordinator: each instance halves its
   * rate when ARM's bucket is below the reserve (at most once a second, as the answers of one burst arrive together) and adds one
   * request per second each second while the bucket is at least half full. Instances converge on a share of ARM's
   * refill whatever their number, instead of all resuming at full rate after each pause and overshooting together.
   */
  private adaptRate(now: number, low: boolean, remaining: number | undefined): void {
    if (low) {
      if (now - this.lastDecreaseAt >= rateDecreaseIntervalInMs) {
        this.rate = Math.max(minimumRatePerSecond, this.rate / 2);
        this.lastDecreaseAt = now;
        this.tokens = Math.min(this.tokens, Math.max(1, this.rate));
      }
      this.lastIncreaseAt = now;
      return;
    }
    if (remaining !== undefined && remaining >= this.shared.burst / 2) {
      this.rate = Math.min(this.perSecond, this.rate + ((now - this.lastIncreaseAt) / 1000) * rateIncreasePerSecond);
    }
    this.lastIncreaseAt = now;
  }

  private async waitForToken(): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      if (now < this.pausedUntil) {
        await this.clock.sleep(Math.ceil(this.pausedUntil - now));
        continue;
      }
      this.tokens = Math.min(this.burstNow(), this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.clock.sleep(Math.ceil(((1 - this.tokens) / this.rate) * 1000));
    }
  }

  /** Below its full rate, an instance's own burst shrinks with it. */
  private burstNow(): number {
    return this.rate >= this.perSecond ? this.burst : Math.max(1, Math.min(this.burst, this.rate));
  }
}

/** The remaining tokens ARM reports for a kind, and a 429's `Retry-After`, from an answer's headers. */
export function rateLimitOf(
  response: Pick<PipelineResponse, "status" | "headers">,
  kind: ArmRequestKind,
): { remaining?: number; retryAfterInSeconds?: number } {
  const remaining = Number(response.headers.get(`x-ms-ratelimit-remaining-subscription-${kind}`) ?? Number.NaN);
  const retryAfter = Number(response.headers.get("retry-after") ?? Number.NaN);
  return {
    ...(Number.isFinite(remaining) ? { remaining } : {}),
    ...(response.status === 429 ? { retryAfterInSeconds: Number.isFinite(retryAfter) ? retryAfter : 1 } : {}),
  };
}

/**
 * A pipeline policy placed per retry: takes a token from the pacer of the request's kind before it goes out, and
 * tells the pacer what ARM answered about the subscription's bucket.
 */
export function armPacingPolicy(pacers: Record<ArmRequestKind, RequestPacer>): PipelinePolicy {
  return {
    name: "imagePipelineArmPacing",
    async sendRequest(request, next) {
      const pacer = pacers[kindOf(request.method)];
      await pacer.take();
      const response = await next(request);
      pacer.observe(rateLimitOf(response, kindOf(request.method)));
      return response;
    },
  };
}

/** One pacer per kind, each at the configured rate, sharing ARM's bucket of that kind with other instances. */
export function armPacers(rates: {
  readsPerSecond: number;
  writesPerSecond: number;
}): Record<ArmRequestKind, RequestPacer> {
  return {
    reads: new RequestPacer(rates.readsPerSecond, rates.readsPerSecond, realClock, armTokenBuckets.reads),
    writes: new RequestPacer(rates.writesPerSecond, rates.writesPerSecond, realClock, armTokenBuckets.writes),
    deletes: new RequestPacer(rates.writesPerSecond, rates.writesPerSecond, realClock, armTokenBuckets.deletes),
  };
}
