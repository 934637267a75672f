import { describe, expect, it } from "vitest";
import { armTokenBuckets, rateLimitOf, RequestPacer } from "../../../shared/adapters/armPacing.js";

/** A clock that moves only when the pacer sleeps: `state.now` is the virtual time. */
const manualClock = () => {
  const clock = { now: 0, sleep: async (ms: number) => void (clock.now += ms) };
  return { clock: { now: () => clock.now, sleep: clock.sleep }, state: clock };
};

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

describe("RequestPacer adapting its rate to ARM's answers", () => {
  it("halves its rate when ARM's bucket runs low, at most once a second, and climbs back while the bucket is half full", () => {
    let now = 0;
    const pacer = new RequestPacer(20, 20, { now: () => now, sleep: async () => {} }, armTokenBuckets.reads);
    pacer.observe({ remaining: 10 });
    expect(pacer.currentRatePerSecond).toBe(10);
    now = 500; // answers of the same burst: no second halving
    pacer.observe({ remaining: 5 });
    pacer.observe({ retryAfterInSeconds: 1, remaining: 0 });
    expect(pacer.currentRatePerSecond).toBe(10);
    now = 1500;
    pacer.observe({ retryAfterInSeconds: 1, remaining: 0 });
    expect(pacer.currentRatePerSecond).toBe(5);
    now = 4500; // 3 s later, with ARM's bucket half full: 3 more a second
    pacer.observe({ remaining: 200 });
    expect(pacer.currentRatePerSecond).toBe(8);
    now = 6500; // between the reserve and half: holds
    pacer.observe({ remaining: 100 });
    expect(pacer.currentRatePerSecond).toBe(8);
    now = 600_000;
    pacer.observe({ remaining: 250 });
    expect(pacer.currentRatePerSecond).toBe(20); // never above what it was configured for
  });

  it("pauses for a 429 that says ARM's bucket is still full, without lowering its rate", async () => {
    const { clock, state } = manualClock();
    const pacer = new RequestPacer(20, 20, clock, armTokenBuckets.reads);
    // A resource provider's own throttle or a transient fault: nothing to share with the other instances.
    expect(pacer.observe({ retryAfterInSeconds: 1, remaining: 240 })).toBe(1000);
    expect(pacer.currentRatePerSecond).toBe(20);
    await pacer.take();
    expect(state.now).toBe(1000);
  });

  it("admits requests at its lowered rate", async () => {
    const { clock, state } = manualClock();
    const pacer = new RequestPacer(20, 20, clock, armTokenBuckets.reads);
    pacer.observe({ remaining: 60 }); // above the reserve (50): no pause, but no halving either
    expect(pacer.currentRatePerSecond).toBe(20);
    pacer.observe({ remaining: 40 }); // below: paused 0.4 s, rate 10/s, its own burst cut to 10
    const admitted: number[] = [];
    for (let i = 0; i < 12; i++) {
      await pacer.take();
      admitted.push(state.now);
    }
    expect(admitted.slice(0, 10)).toEqual(Array(10).fill(400));
    expect(admitted.slice(10)).toEqual([500, 600]);
  });

  it("keeps many instances of 16 concurrent readers near ARM's refill with few 429s, where each alone would overshoot", async () => {
    // Virtual time: ARM's read bucket (250, 25/s) answers after 200 ms; each instance is allowed 20 reads/s.
    const figures: string[] = [];
    for (const instances of [3, 10, 40]) {
      const run = await simulateInstances({
        instances,
        concurrency: 16,
        latencyInMs: 200,
        durationInMs: 600_000,
        ratePerInstance: 20,
      });
      figures.push(
        `${instances} instances: ${run.throttled} 429s of ${run.requests}, ${run.admittedPerSecond.toFixed(1)}/s`,
      );
      expect(run.admittedPerSecond).toBeGreaterThan(24); // ARM's refill is used, not wasted
      expect(run.throttled / run.requests).toBeLessThan(instances <= 10 ? 0.01 : 0.1);
    }
    console.log(`[reliability] ARM read pacing, simulated 600 s: ${figures.join("; ")}`);
  });
});

/**
 * Virtual time for many async tasks at once: `sleep` registers a wake-up; `run` moves the clock to the earliest one,
 * lets the woken tasks run until they wait again, and repeats.
 */
function virtualTime() {
  let now = 0;
  const timers: { at: number; seq: number; wake: () => void }[] = [];
  let seq = 0;
  const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    clock: {
      now: () => now,
      sleep: (ms: number) =>
        new Promise<void>((wake) => {
          timers.push({ at: now + Math.max(0, ms), seq: seq++, wake });
        }),
    },
    now: () => now,
    async run(untilMs: number): Promise<void> {
      await flush();
      while (timers.length > 0) {
        timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const next = timers.shift()!;
        if (next.at > untilMs) {
          timers.unshift(next);
          return;
        }
        now = next.at;
        next.wake();
        await flush();
      }
    },
  };
}

/**
 * N instances, each with `concurrency` workers sending reads one after another through its own pacer, against one
 * ARM read bucket (250 burst, 25/s) that answers after `latencyInMs` with what it has left or a 429. Returns the
 * count of requests and of 429s in `durationInMs` of virtual time.
 */
async function simulateInstances(options: {
  instances: number;
  concurrency: number;
  latencyInMs: number;
  durationInMs: number;
  ratePerInstance: number;
}): Promise<{ requests: number; throttled: number; admittedPerSecond: number }> {
  const time = virtualTime();
  const { burst, perSecond } = armTokenBuckets.reads;
  let bucket = burst;
  let last = 0;
  let requests = 0;
  let throttled = 0;
  let stop = false;
  const pacers = Array.from(
    { length: options.instances },
    () => new RequestPacer(options.ratePerInstance, options.ratePerInstance, time.clock, armTokenBuckets.reads),
  );
  const worker = async (pacer: RequestPacer) => {
    while (!stop) {
      await pacer.take();
      if (stop) return;
      // The request reaches ARM after half the latency, the answer comes back after the other half.
      await time.clock.sleep(options.latencyInMs / 2);
      bucket = Math.min(burst, bucket + ((time.now() - last) / 1000) * perSecond);
      last = time.now();
      requests++;
      let answer: { remaining?: number; retryAfterInSeconds?: number };
      if (bucket < 1) {
        throttled++;
        answer = { retryAfterInSeconds: 1, remaining: 0 };
      } else {
        bucket -= 1;
        answer = { remaining: Math.floor(bucket) };
      }
      await time.clock.sleep(options.latencyInMs / 2);
      pacer.observe(answer);
    }
  };
  const workers = pacers.flatMap((p) => Array.from({ length: options.concurrency }, () => worker(p)));
  await time.run(options.durationInMs);
  stop = true;
  void workers;
  return { requests, throttled, admittedPerSecond: (requests - throttled) / (options.durationInMs / 1000) };
}

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
