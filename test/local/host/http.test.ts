import { request as httpRequest } from "node:http";
import azureFunctions from "@azure/functions";
import type { HttpHandler, HttpRequest, InvocationContext } from "@azure/functions";
import { afterEach, describe, expect, it } from "vitest";
import type { FunctionDefinition } from "../../../functions/definitions.js";
import { deferred, functionKey, masterKey, startTestHost, stopTestHosts } from "./helpers.js";

const { HttpResponse } = azureFunctions;

const webhookSecret = "whsec-0a9f8e7d6c5b4a39";

/** What the echo handlers saw, so tests can check the request the function got. */
async function describeRequest(request: HttpRequest, context: InvocationContext) {
  return {
    jsonBody: {
      method: request.method,
      url: request.url,
      params: request.params,
      query: Object.fromEntries(request.query.entries()),
      contentType: request.headers.get("content-type"),
      body: await request.text(),
      functionName: context.functionName,
      invocationId: context.invocationId,
      traceParent: context.traceContext?.traceParent,
    },
  };
}

function pipelineLikeFunctions(): FunctionDefinition[] {
  return [
    {
      trigger: "http",
      name: "githubWebhook",
      options: {
        route: "webhooks/github",
        methods: ["POST"],
        authLevel: "function",
        handler: async (request, context) => {
          context.log("webhook delivery", request.headers.get("x-github-delivery"));
          return { status: 202, ...(await describeRequest(request, context)) };
        },
      },
    },
    {
      trigger: "http",
      name: "requestBuild",
      options: { route: "builds", methods: ["POST"], authLevel: "admin", handler: describeRequest },
    },
    {
      trigger: "http",
      name: "getImageVersion",
      options: { route: "images/{imageName}/versions/{version?}", methods: ["GET"], handler: describeRequest },
    },
    {
      trigger: "http",
      name: "getLatestImages",
      options: {
        route: "images/latest/versions",
        methods: ["GET"],
        handler: async () => ({ jsonBody: { latest: true } }),
      },
    },
    {
      trigger: "http",
      name: "getBuild",
      options: { route: "builds/{runId}", methods: ["GET"], authLevel: "anonymous", handler: describeRequest },
    },
    {
      trigger: "http",
      name: "health",
      // The types insist on a response; JavaScript functions can still return nothing.
      options: { methods: ["GET"], handler: (async () => undefined) as unknown as HttpHandler },
    },
    {
      trigger: "http",
      name: "setSession",
      options: {
        route: "session",
        methods: ["PUT"],
        handler: async () =>
          new HttpResponse({
            status: 201,
            headers: { "x-request-id": "r-42" },
            body: "created",
            cookies: [{ name: "sid", value: "abc", httpOnly: true, path: "/", sameSite: "Strict" }],
          }),
      },
    },
    {
      trigger: "http",
      name: "crash",
      options: {
        route: "crash",
        methods: ["GET"],
        handler: async () => {
          throw new Error(`could not verify signature with ${webhookSecret}`);
        },
      },
    },
  ];
}

afterEach(stopTestHosts);

describe("the local host's HTTP front end", () => {
  it("routes by template under /api and hands the function its route parameters, query and body", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    const res = await fetch(`${host.url}/api/images/ubuntu-2404/versions/1.2.3?region=westeurope&region=northeurope`);
    expect(res.status).toBe(200);
    const seen = (await res.json()) as Record<string, unknown>;
    expect(seen).toMatchObject({
      method: "GET",
      functionName: "getImageVersion",
      params: { imageName: "ubuntu-2404", version: "1.2.3" },
      query: { region: "westeurope,northeurope" },
    });
    expect(seen.url).toBe(`${host.url}/api/images/ubuntu-2404/versions/1.2.3?region=westeurope&region=northeurope`);
  });

  it("leaves an optional parameter out when the path stops before it", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    const seen = (await (await fetch(`${host.url}/api/images/windows-2022/versions`)).json()) as { params: object };
    expect(seen.params).toEqual({ imageName: "windows-2022" });
  });

  it("prefers a literal segment over a parameter, and matches literals case-insensitively", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    expect(await (await fetch(`${host.url}/api/images/latest/versions`)).json()).toEqual({ latest: true });
    expect(await (await fetch(`${host.url}/API/Images/LATEST/versions`)).json()).toEqual({ latest: true });
  });

  it("hands a parameter its segment decoded, and matches no path longer than the template", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    const seen = (await (await fetch(`${host.url}/api/builds/b-1%202`)).json()) as { params: object };
    expect(seen.params).toEqual({ runId: "b-1 2" });
    expect((await fetch(`${host.url}/api/builds/42/logs`)).status).toBe(404);
  });

  it("refuses at start a route form the local host does not serve, naming the template", async () => {
    for (const route of ["builds/{runId:int}", "artifacts/{*path}", "runs/{state=running}"]) {
      const functions = pipelineLikeFunctions().map((f) =>
        f.name === "getBuild" && f.trigger === "http" ? { ...f, options: { ...f.options, route } } : f,
      );
      await expect(startTestHost(functions), route).rejects.toThrow(`route "${route}"`);
    }
  });

  it("answers 404 for unknown routes and for paths outside the route prefix", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    expect((await fetch(`${host.url}/api/nothing-here`)).status).toBe(404);
    expect((await fetch(`${host.url}/health`)).status).toBe(404);
  });

  it("answers 405 with Allow when the route exists but not for that method", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    const res = await fetch(`${host.url}/api/webhooks/github?code=${functionKey}`, { method: "GET" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
  });

  it("uses the function name as the route when none is given, and answers 204 when the function returns nothing", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    const res = await fetch(`${host.url}/api/health`);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
  });

  describe("authorization levels", () => {
    const body = JSON.stringify({ ref: "refs/heads/main", repository: { full_name: "contoso/images" } });

    it("refuses a function-level function without a key, or with a wrong one (401)", async () => {
      const host = await startTestHost(pipelineLikeFunctions());
      const url = `${host.url}/api/webhooks/github`;
      expect((await fetch(url, { method: "POST", body })).status).toBe(401);
      expect((await fetch(url, { method: "POST", body, headers: { "x-functions-key": "wrong" } })).status).toBe(401);
      expect((await fetch(`${url}?code=${functionKey}x`, { method: "POST", body })).status).toBe(401);
    });

    it("accepts the function key in the x-functions-key header or the code query parameter", async () => {
      const host = await startTestHost(pipelineLikeFunctions());
      const url = `${host.url}/api/webhooks/github`;
      const viaHeader = await fetch(url, {
        method: "POST",
        body,
        headers: { "x-functions-key": functionKey, "content-type": "application/json", "x-github-delivery": "d-1" },
      });
      expect(viaHeader.status).toBe(202);
      expect(((await viaHeader.json()) as { body: string }).body).toBe(body);
      const viaQuery = await fetch(`${url}?code=${encodeURIComponent(functionKey)}`, { method: "POST", body });
      expect(viaQuery.status).toBe(202);
    });

    it("accepts only the master key for an admin-level function", async () => {
      const host = await startTestHost(pipelineLikeFunctions());
      const url = `${host.url}/api/builds`;
      expect((await fetch(url, { method: "POST", headers: { "x-functions-key": functionKey } })).status).toBe(401);
      expect((await fetch(url, { method: "POST", headers: { "x-functions-key": masterKey } })).status).toBe(200);
    });

    it("generates keys when none are given and reports them", async () => {
      const host = await startTestHost(pipelineLikeFunctions(), { functionKeys: undefined });
      expect(host.functionKeys.default).not.toBe(functionKey);
      const res = await fetch(`${host.url}/api/webhooks/github`, {
        method: "POST",
        body,
        headers: { "x-functions-key": host.functionKeys.default },
      });
      expect(res.status).toBe(202);
    });
  });

  it("answers a throwing function with a bare 500 that does not leak the error, and logs the error redacted", async () => {
    const host = await startTestHost(pipelineLikeFunctions(), { env: { WEBHOOK_SECRET: webhookSecret } });
    const res = await fetch(`${host.url}/api/crash`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain("signature");
    expect(text).not.toContain(webhookSecret);
    const failure = await host.waitForRecord((r) => r.event === "invocation.end" && r.functionName === "crash");
    expect(failure.outcome).toBe("failed");
    const logged = host.records.map((r) => r.message).join("\n");
    expect(logged).toContain("could not verify signature");
    expect(logged).not.toContain(webhookSecret);
  });

  it("writes an HttpResponse back with its status, headers, body and cookies", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    const res = await fetch(`${host.url}/api/session`, { method: "PUT" });
    expect(res.status).toBe(201);
    expect(res.headers.get("x-request-id")).toBe("r-42");
    expect(res.headers.getSetCookie()).toEqual(["sid=abc; Path=/; HttpOnly; SameSite=Strict"]);
    expect(await res.text()).toBe("created");
  });

  it("passes a binary body through byte for byte", async () => {
    const host = await startTestHost([
      {
        trigger: "http",
        name: "upload",
        options: {
          methods: ["POST"],
          handler: async (request) => ({
            body: new Uint8Array(await request.arrayBuffer()),
            headers: { "content-type": "application/octet-stream" },
          }),
        },
      },
    ]);
    const payload = new Uint8Array(300_000).map((_, i) => (i * 7) % 256);
    const res = await fetch(`${host.url}/api/upload`, { method: "POST", body: payload });
    const echoed = Buffer.from(await res.arrayBuffer());
    expect(echoed.length).toBe(payload.length);
    expect(echoed.equals(payload)).toBe(true);
  });

  it("refuses a body declared larger than the real host's 100 MB limit with 413, without calling the function", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    const { port } = new URL(host.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port: Number(port),
          method: "POST",
          path: `/api/webhooks/github?code=${functionKey}`,
          headers: { "content-length": String(104_857_601) },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on("error", reject);
      req.write("{");
    });
    expect(status).toBe(413);
    expect(host.records.some((r) => r.event === "invocation.start")).toBe(false);
  });

  it("continues the caller's trace: same trace id, a span of its own", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const seen = (await (await fetch(`${host.url}/api/images/a/versions`, { headers: { traceparent } })).json()) as {
      traceParent: string;
    };
    expect(seen.traceParent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(seen.traceParent).not.toBe(traceparent);
  });

  it("logs start and end of each invocation and the function's own lines with its invocation id", async () => {
    const host = await startTestHost(pipelineLikeFunctions());
    const res = await fetch(`${host.url}/api/webhooks/github`, {
      method: "POST",
      body: "{}",
      headers: { "x-functions-key": functionKey, "x-github-delivery": "delivery-7" },
    });
    const { invocationId } = (await res.json()) as { invocationId: string };
    const mine = host.records.filter((r) => r.invocationId === invocationId);
    expect(mine.map((r) => r.event ?? r.category)).toEqual(["invocation.start", "function", "invocation.end"]);
    expect(mine[1]).toMatchObject({
      category: "function",
      level: "information",
      message: "webhook delivery delivery-7",
    });
    expect(mine[2]).toMatchObject({ functionName: "githubWebhook", outcome: "succeeded" });
    expect(mine[2]?.durationInMs).toBeGreaterThanOrEqual(0);
  });

  it("never writes a setting's secret value to the log, even when a function logs it", async () => {
    const connectionString = "Endpoint=sb://localhost:5672;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0LXNhcy1rZXk=";
    const host = await startTestHost(
      [
        {
          trigger: "http",
          name: "leaky",
          options: {
            methods: ["GET"],
            handler: async (_request, context) => {
              context.log("secret is", webhookSecret, "connection", connectionString);
              return { status: 200 };
            },
          },
        },
      ],
      { env: { WEBHOOK_SECRET: webhookSecret, ServiceBusConnection: connectionString } },
    );
    await fetch(`${host.url}/api/leaky`);
    const line = await host.waitForRecord((r) => r.category === "function");
    expect(line.message).toBe("secret is [redacted] connection [redacted]");
    expect(JSON.stringify(host.records)).not.toContain("c2VjcmV0LXNhcy1rZXk=");
  });

  it("stops gracefully: refuses new requests, lets the one in flight finish and answer", async () => {
    const release = deferred();
    const entered = deferred();
    const host = await startTestHost([
      {
        trigger: "http",
        name: "slow",
        options: {
          methods: ["GET"],
          handler: async () => {
            entered.resolve();
            await release.promise;
            return { jsonBody: { done: true } };
          },
        },
      },
    ]);
    const inFlight = fetch(`${host.url}/api/slow`);
    await entered.promise;
    let stopped = false;
    const stopping = host.stop().then(() => {
      stopped = true;
    });
    await host.waitForRecord((r) => r.message.startsWith("Executing"));
    await expect(fetch(`${host.url}/api/slow`)).rejects.toThrow();
    expect(stopped).toBe(false);
    release.resolve();
    const res = await inFlight;
    expect(await res.json()).toEqual({ done: true });
    await stopping;
    expect(stopped).toBe(true);
  });
});
