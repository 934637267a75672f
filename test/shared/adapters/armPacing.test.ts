import { describe, expect, it } from "vitest";
import { armTokenBuckets, rateLimitOf, RequestPacer } from "../../../shared/adapters/armPacing.js";

describe("RequestPacer", () => {
  it("lets a burst through at once, then admits requests at its rate, in order", async () => {
    let now = 0;
    const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
    const pacer = new RequestPacer(10, 3, clock);
    const admitted: number[] = [];
    await Promise.all(Array.from({ length: 6 }, (_, i) => pacer.take().then(() => (admitted[i] = now))));
    expect(admitted).toEqual([0, 0, 0, 100, 200, 300]);
  });

  it("refills while idle, but never beyond its burst", async () => {
    let now = 0;
    const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
    const pacer = new RequestPacer(10, 2, clock);
    await pacer.take();
    await pacer.take();
    now = 10_000;
    const admitted: number[] = [];
    await Promise.all(Array.from({ length: 3 }, (_, i) => pacer.take().then(() => (admitted[i] = now))));
    expect(admitted).toEqual([10_000, 10_000, 10_100]);
  });
});

describe("RequestPacer sharing ARM's bucket with other instances", () => {
  const manualClock = () => {
    const clock = { now: 0, sleep: async (ms: number) => void (clock.now += ms) };
    return { clock: { now: () => clock.now, sleep: clock.sleep }, state: clock };
  };

  it("pauses when ARM's remaining tokens fall below the reserve, for as long as ARM's refill takes to restore it", async () => {
    const { clock, state } = manualClock();
    const pacer = new RequestPacer(100, 100, clock, armTokenBuckets.reads);
    // The reserve is 20% of 250 = 50 reads; 25 left means 25 missing at 25/s: one second.
    expect(pacer.observe({ remaining: 25 })).toBe(1000);
    await pacer.take();
    expect(state.now).toBe(1000);
    expect(pacer.observe({ remaining: 200 })).toBe(0);
  });

  it("holds every request of the kind for a 429's Retry-After", async () => {
    const { clock, state } = manualClock();
    const pacer = new RequestPacer(100, 100, clock, armTokenBuckets.writes);
    pacer.observe({ retryAfterInSeconds: 3 });
    const admitted: number[] = [];
    await Promise.all([1, 2].map(() => pacer.take().then(() => admitted.push(state.now))));
    expect(admitted).toEqual([3000, 3000]);
  });

  it("keeps N instances that all see the same remainder within ARM's refill together", async () => {
    // Three instances each allowed 20 reads/s (60/s together) against ARM's 25/s refill: simulated with one shared
    // bucket that answers each request with what it has left.
    const { clock, state } = manualClock();
    let bucket = armTokenBuckets.reads.burst;
    let last = 0;
    let throttled = 0;
    const instances = [0, 1, 2].map(() => new RequestPacer(20, 20, clock, armTokenBuckets.reads));
    for (let round = 0; round < 600; round++) {
      for (const pacer of instances) {
        await pacer.take();
        bucket = Math.min(armTokenBuckets.reads.burst, bucket + ((state.now - last) / 1000) * 25);
        last = state.now;
        if (bucket < 1) {
          throttled++;
          pacer.observe({ retryAfterInSeconds: 1, remaining: 0 });
        } else {
          bucket -= 1;
          pacer.observe({ remaining: Math.floor(bucket) });
        }
      }
    }
    expect(throttled).toBe(0);
  });
});

describe("rateLimitOf", () => {
  it("reads ARM's remaining tokens for the request's kind, and a 429's Retry-After", () => {
    const headers = (h: Record<string, string>) => ({ get: (name: string) => h[name.toLowerCase()] });
    expect(
      rateLimitOf(
        { status: 200, headers: headers({ "x-ms-ratelimit-remaining-subscription-reads": "249" }) } as never,
        "reads",
      ),
    ).toEqual({ remaining: 249 });
    expect(rateLimitOf({ status: 429, headers: headers({ "retry-after": "7" }) } as never, "deletes")).toEqual({
      retryAfterInSeconds: 7,
    });
  });
});
