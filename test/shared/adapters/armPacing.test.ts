import { describe, expect, it } from "vitest";
import { RequestPacer } from "../../../shared/adapters/armPacing.js";

describe("RequestPacer", () => {
  it("lets a burst through, then admits requests no faster than its rate", async () => {
    let now = 0;
    const pacer = new RequestPacer(10, 3, () => now);
    const admitted: number[] = [];
    const all = Array.from({ length: 6 }, () => pacer.take().then(() => admitted.push(now)));
    // Drive the fake clock forward while the pacer waits on real timers of a few ms each.
    while (admitted.length < 6) {
      await new Promise((r) => setTimeout(r, 1));
      now += 20;
    }
    await Promise.all(all);
    expect(admitted.slice(0, 3)).toEqual([0, 0, 0]);
    // 10 per second: after the burst, each request waits at least 100 ms of clock time after the previous one.
    for (let i = 3; i < 6; i++) expect(admitted[i]! - admitted[i - 1]!).toBeGreaterThanOrEqual(100);
  });
});
