import { describe, expect, it } from "vitest";
import { createLogger, redact } from "../../../shared/observability/logger.js";

describe("the structured logger", () => {
  it("writes one JSON object per line with the shared and the given fields", () => {
    const lines: string[] = [];
    const log = createLogger(
      { info: (l) => lines.push(l), warn: (l) => lines.push(l), error: (l) => lines.push(l) },
      { function: "startBuild" },
    );
    log.child({ buildId: "b-1" }).info("started", { version: "1.0.3" });
    expect(JSON.parse(lines[0]!)).toEqual({
      level: "info",
      message: "started",
      function: "startBuild",
      buildId: "b-1",
      version: "1.0.3",
    });
  });

  it("never writes values of secret-looking keys", () => {
    expect(redact({ webhookSecret: "abc", nested: { AccountKey: "k", token: "t" }, ok: 1 })).toEqual({
      webhookSecret: "[redacted]",
      nested: { AccountKey: "[redacted]", token: "[redacted]" },
      ok: 1,
    });
  });

  it("scrubs connection-string keys, bearer tokens and signatures inside messages", () => {
    const text = redact(
      "failed: Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=c2VjcmV0 with Bearer eyJhbGciOi.x.y sha256=" +
        "a".repeat(64),
    ) as string;
    expect(text).not.toContain("c2VjcmV0");
    expect(text).not.toContain("eyJhbGciOi");
    expect(text).not.toContain("a".repeat(64));
  });

  it("keeps an error's code, stack and chain of causes, redacted like any field", () => {
    const lines: string[] = [];
    const log = createLogger({ info: (l) => lines.push(l), warn: (l) => lines.push(l), error: (l) => lines.push(l) });
    const azure = Object.assign(new Error("AuthorizationFailed with Bearer eyJhbGciOi.x.y"), {
      name: "RestError",
      code: "AuthorizationFailed",
      statusCode: 403,
    });
    log.error("step failed", { error: new Error("could not read versions", { cause: azure }) });
    const { error } = JSON.parse(lines[0]!) as { error: Record<string, unknown> & { cause: Record<string, unknown> } };
    expect(error["message"]).toBe("could not read versions");
    expect(String(error["stack"])).toContain("logger.test.ts");
    expect(error.cause).toMatchObject({ name: "RestError", code: "AuthorizationFailed", statusCode: 403 });
    expect(JSON.stringify(error)).not.toContain("eyJhbGciOi");
  });
});
