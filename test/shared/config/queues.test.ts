import { describe, expect, it } from "vitest";
import { loadQueueConfig } from "../../../shared/config/queues.js";
import { queues } from "../../../shared/messages/index.js";

describe("the shared queue definition", () => {
  const config = loadQueueConfig();

  it("declares every queue the code sends to or listens on, once", () => {
    const names = config.queues.map((q) => q.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.sort()).toEqual(Object.keys(queues).sort());
  });

  it("dead-letters expired messages and detects duplicates on every queue, so nothing is lost or built twice", () => {
    for (const q of config.queues) {
      expect(q.properties.deadLetteringOnMessageExpiration, q.name).toBe(true);
      expect(q.properties.requiresDuplicateDetection, q.name).toBe(true);
    }
  });
});
