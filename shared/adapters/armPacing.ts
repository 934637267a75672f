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

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly clock: PacerClock = realClock,
    private readonly shared: { burst: number; perSecond: number } = armTokenBuckets.reads,
  ) {
    this.tokens = burst;
    this.last = this.clock.now();
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
    if (answer.remaining !== undefined && answer.remaining < reserve) {
      // Every instance sees about the same remainder and waits about as long: the bucket refills meanwhile.
      until = Math.max(until, now + ((reserve - answer.remaining) / this.shared.perSecond) * 1000);
    }
    if (answer.retryAfterInSeconds !== undefined) until = Math.max(until, now + answer.retryAfterInSeconds * 1000);
    this.pausedUntil = until;
    return Math.max(0, until - now);
  }

  private async waitForToken(): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      if (now < this.pausedUntil) {
        await this.clock.sleep(Math.ceil(this.pausedUntil - now));
        continue;
      }
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.clock.sleep(Math.ceil(((1 - this.tokens) / this.perSecond) * 1000));
    }
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
