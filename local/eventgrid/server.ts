import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { ServerCertificate } from "../arm/cert.js";
import { checkPublishBody, maxRequestInBytes, type Refusal } from "./rules.js";
import type { EventRecord } from "./store.js";

/** How the topic authenticates publishers (README: E4). */
export interface TopicAuth {
  /** Bearer tokens taken as Entra ID tokens of a principal with EventGrid Data Sender on the topic. */
  tokens: string[];
  /** Access keys (`aeg-sas-key`); refused when local auth is disabled, as the pipeline's topic has it. */
  keys: string[];
  localAuthDisabled: boolean;
}

/** Answers the next `count` publish requests get instead of being served (tests of 4xx/5xx handling). */
export interface Fault {
  status: number;
  count: number;
  message?: string;
  retryAfterInSeconds?: number;
  /** Only requests whose batch carries an event with this id get the fault; the others are served. */
  eventId?: string;
}

/** The ids of the events a publish body carries (none when it is not a JSON batch: the rules refuse it later). */
function eventIdsOf(body: string | undefined): string[] {
  try {
    const parsed = JSON.parse(body ?? "") as unknown;
    const batch = Array.isArray(parsed) ? parsed : [parsed];
    return batch.flatMap((e) =>
      e && typeof (e as { id?: unknown }).id === "string" ? [(e as { id: string }).id] : [],
    );
  } catch {
    return [];
  }
}

/** What the topic counted since it started. */
export interface TopicCounters {
  requests: number;
  accepted: number;
  refused: Record<string, number>;
}

const statusCodes: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  413: "PayloadTooLarge",
  429: "TooManyRequests",
  500: "InternalServerError",
  503: "ServiceUnavailable",
};

/** E12: Event Grid's error body, `details` repeating the code and message. */
function sendError(res: ServerResponse, refusal: Refusal, headers: Record<string, string> = {}): void {
  const code = statusCodes[refusal.status] ?? `Status${refusal.status}`;
  const body = JSON.stringify({
    error: { code, message: refusal.message, details: [{ code, message: refusal.message }] },
  });
  res.writeHead(refusal.status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(value === undefined ? "" : JSON.stringify(value));
}

/** Reads the body, up to a bound past the limit (a larger body is refused with 413 without being buffered whole). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= maxRequestInBytes + 1) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > maxRequestInBytes ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** E4: the publisher's credential, checked as the topic does. */
function authenticate(req: IncomingMessage, auth: TopicAuth, host: string): Refusal | undefined {
  const authorization = req.headers["authorization"];
  const key = req.headers["aeg-sas-key"];
  const sas = req.headers["aeg-sas-token"];
  if (typeof authorization === "string" && /^Bearer\s+\S+$/i.test(authorization)) {
    const token = authorization.replace(/^Bearer\s+/i, "");
    return auth.tokens.includes(token)
      ? undefined
      : { status: 401, message: `The request authorization key is not authorized for ${host}.` };
  }
  if (typeof key === "string" || typeof sas === "string") {
    if (auth.localAuthDisabled) {
      return {
        status: 401,
        message: `Local authentication (access keys and SAS tokens) is disabled for ${host}: use Microsoft Entra ID.`,
      };
    }
    return typeof key === "string" && auth.keys.includes(key)
      ? undefined
      : { status: 401, message: `The request authorization key is not authorized for ${host}.` };
  }
  return {
    status: 401,
    message: "Request must contain one of the following authorization signature: aeg-sas-token, aeg-sas-key.",
  };
}

/**
 * The topic's HTTPS server: `POST /api/events?api-version=...` for publishers, `/_emulator/...` for tests and tools
 * (README: the admin API). Knows nothing of what the events mean.
 */
export function createTopicServer(options: {
  certificate: ServerCertificate;
  record: EventRecord;
  auth: TopicAuth;
  clock?: () => Date;
}): { server: Server; counters: TopicCounters; faults: Fault[] } {
  const { record, auth } = options;
  const now = options.clock ?? (() => new Date());
  const faults: Fault[] = [];
  const counters: TopicCounters = { requests: 0, accepted: 0, refused: {} };
  const refuse = (res: ServerResponse, refusal: Refusal, headers?: Record<string, string>) => {
    counters.refused[refusal.status] = (counters.refused[refusal.status] ?? 0) + 1;
    sendError(res, refusal, headers);
  };

  const server = createServer({ cert: options.certificate.certPem, key: options.certificate.keyPem }, (req, res) => {
    void (async () => {
      const method = (req.method ?? "GET").toUpperCase();
      const host = (req.headers.host ?? "127.0.0.1").toUpperCase();
      const url = new URL(req.url ?? "/", "https://127.0.0.1");
      const body = await readBody(req);

      if (url.pathname.startsWith("/_emulator/")) {
        const admin = url.pathname.slice("/_emulator/".length);
        if (admin === "health" && method === "GET") return sendJson(res, 200, { status: "ok" });
        if (admin === "events" && method === "GET") {
          return sendJson(res, 200, { events: record.list(Number(url.searchParams.get("after") ?? "0") || 0) });
        }
        if (admin === "events" && method === "DELETE") {
          record.clear();
          return sendJson(res, 204, undefined);
        }
        if (admin === "counters" && method === "GET") return sendJson(res, 200, counters);
        if (admin === "faults" && method === "POST") {
          const fault = JSON.parse(body ?? "{}") as Fault;
          if (
            !Number.isInteger(fault.status) ||
            fault.status < 400 ||
            !Number.isInteger(fault.count) ||
            fault.count < 1 ||
            (fault.eventId !== undefined && typeof fault.eventId !== "string")
          ) {
            return sendJson(res, 400, {
              error: "a fault is {status >= 400, count >= 1, message?, retryAfterInSeconds?, eventId?}",
            });
          }
          faults.push(fault);
          return sendJson(res, 201, fault);
        }
        if (admin === "faults" && method === "DELETE") {
          faults.length = 0;
          return sendJson(res, 204, undefined);
        }
        return sendJson(res, 404, { error: `no admin route ${method} ${url.pathname}` });
      }

      counters.requests += 1;
      // E1: the topic's one endpoint.
      if (method !== "POST" || url.pathname.replace(/\/+$/, "").toLowerCase() !== "/api/events") {
        return refuse(res, { status: 404, message: `The requested resource '${url.pathname}' was not found.` });
      }
      // E3: the api-version the SDK sends on every request.
      if (!url.searchParams.get("api-version")) {
        return refuse(res, { status: 400, message: "The api-version query parameter is required." });
      }
      const unauthenticated = authenticate(req, auth, host);
      if (unauthenticated) return refuse(res, unauthenticated);
      const ids = faults.some((f) => f.eventId !== undefined) ? eventIdsOf(body) : [];
      const fault = faults.find((f) => f.eventId === undefined || ids.includes(f.eventId));
      if (fault) {
        fault.count -= 1;
        if (fault.count <= 0) faults.splice(faults.indexOf(fault), 1);
        return refuse(
          res,
          { status: fault.status, message: fault.message ?? `injected ${fault.status}` },
          fault.retryAfterInSeconds !== undefined ? { "retry-after": String(fault.retryAfterInSeconds) } : {},
        );
      }
      if (body === undefined) {
        return refuse(res, { status: 413, message: `the request is larger than ${maxRequestInBytes} bytes` });
      }
      const checked = checkPublishBody(req.headers["content-type"], body);
      if ("status" in checked) return refuse(res, checked);
      record.append(checked.events, now());
      counters.accepted += checked.events.length;
      res.writeHead(200, { "content-length": "0" });
      res.end();
    })().catch((error: unknown) => {
      if (!res.headersSent) sendError(res, { status: 500, message: String(error) });
      else res.destroy();
    });
  });
  return { server, counters, faults };
}
