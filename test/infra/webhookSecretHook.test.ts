import { describe, expect, it } from "vitest";
import {
  azdToken,
  ensureWebhookSecret,
  main,
  webhookSecretName,
  WebhookSecretError,
} from "../../infra/hooks/webhook-secret.mjs";

const vaultUri = "https://kv-test.vault.azure.net/";
const functionAppId =
  "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/Microsoft.Web/sites/func-api-test";

interface Call {
  method: string;
  url: string;
  authorization: string | null;
  body?: string;
}

/** Key Vault and ARM as the hook sees them: each request answered by `answer`, every call recorded. */
function fakeAzure(answer: (call: Call) => { status: number; body?: unknown }) {
  const calls: Call[] = [];
  const fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    const call: Call = {
      method: init.method ?? "GET",
      url: String(input),
      authorization: headers.get("authorization"),
      ...(typeof init.body === "string" ? { body: init.body } : {}),
    };
    calls.push(call);
    const { status, body } = answer(call);
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json" },
    });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const getToken = async (scope: string) => `token-for-${scope}`;
const noSleep = async () => undefined;
const secretId = `${vaultUri}secrets/${webhookSecretName}`;

describe("the postprovision hook that creates the webhook secret", () => {
  it("creates a 256-bit random secret when the vault has none, then makes the app resolve its references", async () => {
    const azure = fakeAzure((call) =>
      call.method === "GET" ? { status: 200, body: { value: [{ id: `${vaultUri}secrets/other` }] } } : { status: 200 },
    );
    const log: string[] = [];
    const outcome = await ensureWebhookSecret({
      vaultUri,
      functionAppId,
      getToken,
      fetch: azure.fetch,
      log: (line) => log.push(line),
    });

    expect(outcome).toBe("created");
    const [list, put, refresh] = azure.calls;
    expect(list).toMatchObject({ method: "GET", authorization: "Bearer token-for-https://vault.azure.net/.default" });
    expect(list?.url).toMatch(/^https:\/\/kv-test\.vault\.azure\.net\/secrets\?api-version=7\.4/);
    expect(put).toMatchObject({ method: "PUT", url: `${secretId}?api-version=7.4` });
    const value = (JSON.parse(put!.body!) as { value: string }).value;
    expect(value).toMatch(/^[0-9a-f]{64}$/);
    expect(refresh).toEqual({
      method: "POST",
      url: `https://management.azure.com${functionAppId}/config/configreferences/appsettings/refresh?api-version=2022-03-01`,
      authorization: "Bearer token-for-https://management.azure.com/.default",
    });
    expect(azure.calls).toHaveLength(3);
    expect(log.join("\n")).not.toContain(value);
  });

  it("draws a different secret for each vault it creates one in", async () => {
    const values: string[] = [];
    for (let i = 0; i < 2; i++) {
      const azure = fakeAzure((call) =>
        call.method === "GET" ? { status: 200, body: { value: [] } } : { status: 200 },
      );
      await ensureWebhookSecret({ vaultUri, functionAppId, getToken, fetch: azure.fetch, log: () => undefined });
      values.push((JSON.parse(azure.calls[1]!.body!) as { value: string }).value);
    }
    expect(values[0]).not.toBe(values[1]);
  });

  it("leaves an existing secret as it is (found on a later page of the list), without reading its value", async () => {
    const azure = fakeAzure((call) =>
      call.url.includes("skiptoken")
        ? { status: 200, body: { value: [{ id: secretId }], nextLink: null } }
        : { status: 200, body: { value: [], nextLink: `${vaultUri}secrets?api-version=7.4&$skiptoken=abc` } },
    );
    const outcome = await ensureWebhookSecret({
      vaultUri,
      functionAppId,
      getToken,
      fetch: azure.fetch,
      log: () => undefined,
    });
    expect(outcome).toBe("exists");
    expect(azure.calls.map((c) => c.method)).toEqual(["GET", "GET"]);
    expect(azure.calls.every((c) => !c.url.includes(`/secrets/${webhookSecretName}?`))).toBe(true);
  });

  it("waits while the deployer's new Key Vault role propagates (403), within its bound", async () => {
    let forbidden = 2;
    const azure = fakeAzure((call) => {
      if (call.method === "GET" && forbidden > 0) {
        forbidden--;
        return { status: 403, body: { error: { code: "Forbidden", message: "ForbiddenByRbac" } } };
      }
      return call.method === "GET" ? { status: 200, body: { value: [] } } : { status: 200 };
    });
    const sleeps: number[] = [];
    const outcome = await ensureWebhookSecret({
      vaultUri,
      functionAppId,
      getToken,
      fetch: azure.fetch,
      log: () => undefined,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      retryDelayInMs: 1234,
    });
    expect(outcome).toBe("created");
    expect(sleeps).toEqual([1234, 1234]);
  });

  it("fails naming the missing role once the bound has passed", async () => {
    const azure = fakeAzure(() => ({
      status: 403,
      body: { error: { code: "Forbidden", message: "ForbiddenByRbac" } },
    }));
    await expect(
      ensureWebhookSecret({
        vaultUri,
        functionAppId,
        getToken,
        fetch: azure.fetch,
        log: () => undefined,
        sleep: noSleep,
        roleWaitInMs: 0,
      }),
    ).rejects.toThrow(/Key Vault Secrets Officer.*HTTP 403 Forbidden: ForbiddenByRbac/);
  });

  it("explains a soft-deleted secret of that name instead of failing obscurely, and never shows a value", async () => {
    const azure = fakeAzure((call) =>
      call.method === "GET"
        ? { status: 200, body: { value: [] } }
        : {
            status: 409,
            body: { error: { code: "Conflict", message: "Secret is currently in a deleted but recoverable state" } },
          },
    );
    const failure = await ensureWebhookSecret({
      vaultUri,
      functionAppId,
      getToken,
      fetch: azure.fetch,
      log: () => undefined,
    }).catch((error: unknown) => error as Error);
    expect(failure).toBeInstanceOf(WebhookSecretError);
    expect((failure as Error).message).toMatch(/deleted but recoverable.*az keyvault secret recover.*purge/);
    const value = (JSON.parse(azure.calls[1]!.body!) as { value: string }).value;
    expect((failure as Error).message).not.toContain(value);
  });

  it("keeps the created secret when the app refuses the refresh, and says to restart the app", async () => {
    const azure = fakeAzure((call) =>
      call.method === "GET"
        ? { status: 200, body: { value: [] } }
        : call.method === "PUT"
          ? { status: 200 }
          : { status: 403, body: { error: { code: "AuthorizationFailed", message: "no" } } },
    );
    const log: string[] = [];
    const outcome = await ensureWebhookSecret({
      vaultUri,
      functionAppId,
      getToken,
      fetch: azure.fetch,
      log: (l) => log.push(l),
    });
    expect(outcome).toBe("created");
    expect(log.at(-1)).toMatch(/could not refresh.*HTTP 403 AuthorizationFailed.*restart the app/);
  });

  it("signs in with azd's login, in the environment's tenant", async () => {
    const runs: Array<{ file: string; args: string[] }> = [];
    const token = await azdToken("https://vault.azure.net/.default", {
      tenantId: "tenant-1",
      exec: async (file, args) => {
        runs.push({ file, args });
        return JSON.stringify({ token: "abc", expiresOn: "2030-01-01T00:00:00Z" });
      },
    });
    expect(token).toBe("abc");
    expect(runs).toEqual([
      {
        file: "azd",
        args: [
          "auth",
          "token",
          "--output",
          "json",
          "--scope",
          "https://vault.azure.net/.default",
          "--tenant-id",
          "tenant-1",
        ],
      },
    ]);
    await expect(
      azdToken("s", {
        exec: async () => {
          throw new Error("not logged in\nmore");
        },
      }),
    ).rejects.toThrow("azd auth token failed (not logged in); run 'azd auth login'");
  });

  it("refuses to run without the outputs it needs", async () => {
    await expect(main({ AZURE_KEY_VAULT_ENDPOINT: vaultUri })).rejects.toThrow(/AZURE_FUNCTION_APP_ID must be set/);
  });
});
