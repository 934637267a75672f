import type { PipelinePolicy } from "@azure/core-rest-pipeline";

/**
 * Paces ARM requests below the subscription's token buckets (reads refill 25/s, writes and deletes 10/s), so that a
 * sweep over a large gallery is never throttled. A token bucket per kind, shared by every client of the process.
 */
export class RequestPacer {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly clock: { now(): number; sleep(ms: number): Promise<void> } = {
      now: () => performance.now(),
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    },
  ) {
    this.tokens = burst;
    this.last = this.clock.now();
  }

  /** Resolves when a request may go; callers are served in order. */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.waitForToken());
    this.queue = turn;
    return turn;
  }

  private async waitForToken(): Promise<void> {
    for (;;) {
      const now = this.clock.now();
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

/** A pipeline policy that takes a token from the reads or the writes pacer before each request goes out. */
export function armPacingPolicy(pacers: { reads: RequestPacer; writes: RequestPacer }): PipelinePolicy {
  return {
    name: "imagePipelineArmPacing",
    async sendRequest(request, next) {
      await (request.method === "GET" || request.method === "HEAD" ? pacers.reads : pacers.writes).take();
      return next(request);
    },
  };
}
