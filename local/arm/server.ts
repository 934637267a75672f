import { randomUUID } from "node:crypto";
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { handleAdmin } from "./admin.js";
import type { ServerCertificate } from "./cert.js";
import type { Ctx, Reply } from "./context.js";
import { ArmError } from "./errors.js";
import { settle } from "./lifecycle.js";
import { categoryOf, Counters, FaultInjector, Throttler } from "./limits.js";
import { ResourceGraphQuota } from "./resourceGraph.js";
import { matchRoute } from "./routes.js";
import type { Store } from "./store.js";

const maxBodyBytes = 200 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(new ArmError(413, "RequestEntityTooLarge", "The request content is too large."));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ArmError(
      400,
      "InvalidRequestContent",
      `The request content was invalid and could not be deserialized: '${(error as Error).message}'.`,
    );
  }
}

function send(res: ServerResponse, method: string, reply: Reply, extraHeaders: Record<string, string>): void {
  const headers: Record<string, string> = { ...extraHeaders, ...(reply.headers ?? {}) };
  let payload: string | undefined;
  if (reply.text !== undefined && method !== "HEAD") {
    payload = reply.text;
    headers["Content-Type"] = reply.contentType ?? "text/plain; charset=utf-8";
    headers["Content-Length"] = String(Buffer.byteLength(payload));
  } else if (reply.body !== undefined && method !== "HEAD") {
    payload = JSON.stringify(reply.body);
    headers["Content-Type"] = "application/json; charset=utf-8";
    headers["Content-Length"] = String(Buffer.byteLength(payload));
  } else {
    headers["Content-Length"] = "0";
  }
  res.writeHead(reply.status, headers);
  res.end(payload);
}

function errorReply(error: unknown): Reply {
  if (error instanceof ArmError) return { status: error.statusCode, body: error.toBody(), headers: error.headers };
  console.error("[arm-emulator] unexpected error", error);
  return {
    status: 500,
    body: {
      error: {
        code: "InternalServerError",
        message: "The server encountered an internal error. Please retry the request.",
      },
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const injectedErrors: Record<
  429 | 500 | 503 | 400 | 403 | 404,
  { code: string; message: string; retryAfter: boolean }
> = {
  400: {
    code: "InvalidParameter",
    message: "The request is invalid (injected by the emulator).",
    retryAfter: false,
  },
  403: {
    code: "AuthorizationFailed",
    message:
      "The client does not have authorization to perform this action over this scope or the scope is invalid " +
      "(injected by the emulator).",
    retryAfter: false,
  },
  404: {
    code: "ResourceNotFound",
    message: "The resource was not found (injected by the emulator).",
    retryAfter: false,
  },
  429: {
    code: "TooManyRequests",
    message: "The request is being throttled (injected by the emulator).",
    retryAfter: true,
  },
  500: {
    code: "InternalServerError",
    message: "The server encountered an internal error (injected by the emulator).",
    retryAfter: false,
  },
  503: {
    code: "ServiceUnavailable",
    message: "The service is temporarily unavailable (injected by the emulator).",
    retryAfter: true,
  },
};

export interface ArmServer {
  server: https.Server;
  counters: Counters;
}

/** The HTTPS front: admin calls, then auth, counting, throttling, faults, api-version checks and dispatch. */
export function createArmServer(
  store: Store,
  certificate: ServerCertificate,
  random: () => number = Math.random,
): ArmServer {
  const counters = new Counters();
  const throttler = new Throttler(() => store.config.throttling);
  const faults = new FaultInjector(() => store.config.faults, random);
  const resourceGraphQuota = new ResourceGraphQuota();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const baseUrl = `https://${req.headers.host ?? "127.0.0.1"}`;
    const url = new URL(req.url ?? "/", baseUrl);
    const requestId = randomUUID();
    const common: Record<string, string> = {
      "x-ms-request-id": requestId,
      "x-ms-correlation-request-id": String(req.headers["x-ms-correlation-request-id"] ?? requestId),
      "Cache-Control": "no-cache",
    };
    try {
      const text = await readBody(req);
      if (url.pathname.toLowerCase().startsWith("/_emulator/")) {
        settle(store);
        let reply: Reply;
        try {
          reply = handleAdmin({ store, counters, throttler, faults, resourceGraphQuota }, method, url, parseJson(text));
        } finally {
          store.commit();
        }
        send(res, method, reply, common);
        return;
      }

      const authorization = req.headers["authorization"];
      if (!authorization) {
        counters.unauthenticated += 1;
        throw new ArmError(
          401,
          "AuthenticationFailed",
          "Authentication failed. The 'Authorization' header is missing.",
          undefined,
          {
            "WWW-Authenticate":
              'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", ' +
              "error_description=\"The authentication failed because of missing 'Authorization' header.\"",
          },
        );
      }
      if (!/^Bearer\s+\S+/i.test(authorization)) {
        counters.unauthenticated += 1;
        throw new ArmError(
          401,
          "AuthenticationFailedInvalidHeader",
          "Authentication failed. The 'Authorization' header is provided in an invalid format.",
          undefined,
          {
            "WWW-Authenticate":
              'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"',
          },
        );
      }

      const match = matchRoute(method, url.pathname);
      if (match === undefined) {
        throw new ArmError(
          404,
          "InvalidResourceType",
          `The resource type could not be found for path '${url.pathname}'.`,
        );
      }
      if (match === "method-not-allowed") {
        throw new ArmError(
          405,
          "HttpMethodNotAllowed",
          `The HTTP method '${method}' is not supported at '${url.pathname}'.`,
        );
      }
      const { route, params } = match;
      const subscriptionId = params["subscription"] ?? "";
      const category = categoryOf(method);
      counters.count(route.operation, category);

      const nowMs = Date.now();
      const bucket = route.tenantLevel ? undefined : throttler.take(subscriptionId, category, nowMs);
      if (bucket) {
        common[`x-ms-ratelimit-remaining-subscription-${category}`] = String(bucket.remaining);
        common[`x-ms-ratelimit-remaining-subscription-global-${category}`] = String(bucket.globalRemaining);
      }
      if (bucket?.retryAfterInSeconds !== undefined) {
        counters.throttled += 1;
        const verb = category === "reads" ? "read" : category === "writes" ? "write" : "delete";
        throw new ArmError(
          429,
          "SubscriptionRequestsThrottled",
          `Number of '${verb}' requests for subscription '${subscriptionId}' actor 'emulator' exceeded. Please try ` +
            `again after '${bucket.retryAfterInSeconds}' seconds after additional tokens are available. Refer to ` +
            "https://aka.ms/arm-throttling",
          undefined,
          { "Retry-After": String(bucket.retryAfterInSeconds) },
        );
      }

      if (store.config.faults.latencyInMs > 0) await sleep(store.config.faults.latencyInMs);
      const injected = faults.pick(route.operation);
      if (injected !== undefined) {
        counters.faulted += 1;
        const e = injectedErrors[injected];
        throw new ArmError(injected, e.code, e.message, undefined, e.retryAfter ? { "Retry-After": "1" } : {});
      }

      const apiVersion = url.searchParams.get("api-version");
      if (!apiVersion) {
        throw new ArmError(
          400,
          "MissingApiVersionParameter",
          "The api-version query parameter (?api-version=) is required for all requests.",
        );
      }
      if (route.apiVersions && !route.apiVersions.includes(apiVersion)) {
        throw new ArmError(
          400,
          "NoRegisteredProviderFound",
          `No registered resource provider found for API version '${apiVersion}' for operation '${route.operation}'. ` +
            `The supported api-versions are '${route.apiVersions.join(", ")}'.`,
        );
      }

      settle(store);
      const ctx: Ctx = {
        method,
        url,
        baseUrl,
        apiVersion,
        subscriptionId,
        body: parseJson(text),
        store,
        nowMs: store.now(),
        random,
        resourceGraphQuota,
      };
      let reply: Reply;
      try {
        reply = route.handler(ctx, params);
      } finally {
        // Whatever is answered is in the journal first (a handler may change state and still refuse).
        store.commit();
      }
      send(res, method, reply, common);
    } catch (error) {
      send(res, method, errorReply(error), common);
    }
  }

  const server = https.createServer(
    { key: certificate.keyPem, cert: certificate.certPem, keepAlive: true },
    (req, res) => {
      void handle(req, res);
    },
  );
  return { server, counters };
}
