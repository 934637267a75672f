import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postBuildRequest } from "../../local/buildRequests.js";
import { localAzure } from "../../local/settings.js";
import { startTestStack } from "../e2e/harness.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

describe("the build requests npm start sends", () => {
  let stack: Stack;
  const webhookSecret = "whsec-npm-start-3c9d1e7a";
  const request = (commit: string) => ({ image: "ubuntu-2404", commit, reason: "manual", requestedBy: "npm-start" });

  beforeAll(async () => {
    stack = await startTestStack({
      functions: (f) => f.trigger === "http",
      overrides: { WEBHOOK_SECRET: webhookSecret },
    });
  });
  afterAll(async () => {
    await stack?.dispose();
  });

  it("are accepted by a host that has a webhook secret, because they are signed with it", async () => {
    const response = await postBuildRequest({
      hostUrl: stack.host.url,
      functionKey: localAzure.functionKey,
      webhookSecret,
      request: request("a".repeat(40)),
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ image: "ubuntu-2404", status: "queued" });
  });

  it("would be refused by that host unsigned (what npm start did before)", async () => {
    const response = await postBuildRequest({
      hostUrl: stack.host.url,
      functionKey: localAzure.functionKey,
      webhookSecret: undefined,
      request: request("b".repeat(40)),
    });
    expect(response.status).toBe(401);
  });
});
