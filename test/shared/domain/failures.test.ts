import { describe, expect, it } from "vitest";
import {
  customizationLogUriOf,
  failureLogTagPrefix,
  failureTagPrefix,
  readFailures,
  withFailure,
} from "../../../shared/domain/failures.js";

const azureMessage =
  "Failed while waiting for packerizer: Microservice has failed: Failed while processing request: Error when " +
  "executing packerizer: Packer build command has failed: exit status 1. During the image build, a failure has " +
  "occurred, please review the build log to identify which build/customization step failed. For more troubleshooting " +
  "steps go to https://aka.ms/azvmimagebuilderts. Image Build log location: " +
  "https://a1b2c3d4e5.blob.core.windows.net/packerlogs/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/customization.log. " +
  "OperationId: 9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d. Use this operationId to search packer logs.";

describe("customizationLogUriOf", () => {
  it("finds the log in Image Builder's failure message, as the troubleshooting guide quotes it", () => {
    expect(customizationLogUriOf(azureMessage)).toBe(
      "https://a1b2c3d4e5.blob.core.windows.net/packerlogs/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/customization.log",
    );
  });

  it("finds nothing in a message without one", () => {
    expect(customizationLogUriOf("The image build was canceled.")).toBeUndefined();
    expect(customizationLogUriOf(undefined)).toBeUndefined();
  });
});

describe("recorded failures", () => {
  it("keep the newest five with their logs, replace a build's earlier record, and leave other tags alone", () => {
    let tags: Record<string, string> = { owner: "platform" };
    for (let i = 1; i <= 7; i++) {
      tags = withFailure(tags, {
        buildId: `b-${i}`,
        at: `2026-11-0${i}T00:00:00.000Z`,
        reason: `reason ${i}`,
        logUri: `https://x.blob.core.windows.net/packerlogs/${i}/customization.log`,
      });
    }
    tags = withFailure(tags, { buildId: "b-7", at: "2026-11-08T00:00:00.000Z", reason: "again" });
    const failures = readFailures(tags);
    expect(failures.map((f) => f.buildId)).toEqual(["b-7", "b-6", "b-5", "b-4", "b-3"]);
    expect(failures[0]).toEqual({ buildId: "b-7", at: "2026-11-08T00:00:00.000Z", reason: "again" });
    expect(failures[1]!.logUri).toBe("https://x.blob.core.windows.net/packerlogs/6/customization.log");
    expect(tags["owner"]).toBe("platform");
    const pipelineTags = Object.keys(tags).filter(
      (k) => k.startsWith(failureTagPrefix) || k.startsWith(failureLogTagPrefix),
    );
    expect(pipelineTags).toHaveLength(9);
  });

  it("cut a long reason to a tag value's 256 characters", () => {
    const tags = withFailure({}, { buildId: "b-1", at: "2026-11-01T00:00:00.000Z", reason: "x".repeat(400) });
    expect(Object.values(tags)[0]!.length).toBe(256);
  });
});
