import { describe, expect, it } from "vitest";
import { queueSpanParent } from "../../functions/runtime.js";

const message = "00-11111111111111111111111111111111-aaaaaaaaaaaaaaaa-01";
const hostInSameTrace = "00-11111111111111111111111111111111-bbbbbbbbbbbbbbbb-01";
const hostInOwnTrace = "00-22222222222222222222222222222222-cccccccccccccccc-01";

describe("the parent of a queue invocation's span", () => {
  it("is the host's span when the host continued the message's trace", () => {
    expect(queueSpanParent(message, hostInSameTrace)).toEqual({ parent: hostInSameTrace });
  });

  it("is the message's traceparent, linked to the host's span, when the host started a trace of its own", () => {
    expect(queueSpanParent(message, hostInOwnTrace)).toEqual({ parent: message, links: [hostInOwnTrace] });
  });

  it("is the message's traceparent when the host gave none, and the host's when the message has none", () => {
    expect(queueSpanParent(message, undefined)).toEqual({ parent: message, links: [] });
    expect(queueSpanParent(undefined, hostInOwnTrace)).toEqual({ parent: hostInOwnTrace });
    expect(queueSpanParent("00-zz", hostInOwnTrace)).toEqual({ parent: hostInOwnTrace });
  });
});
