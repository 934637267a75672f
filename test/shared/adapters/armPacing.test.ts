import { describe, expect, it } from "vitest";
import { RequestPacer } from "../../../shared/adapters/armPacing.js";

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
