import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import azureFunctions from "@azure/functions";
import type { Cookie, HttpFunctionOptions, HttpResponse, HttpResponseInit } from "@azure/functions";
import type { Invoker } from "./invocation.js";
import { compareRoutePrecedence, matchRoute, parseRouteTemplate, type RouteTemplate } from "./routes.js";

const { HttpRequest: HttpRequestClass, HttpResponse: HttpResponseClass } = azureFunctions;

/** The real host's request body limit (Kestrel's `MaxRequestBodySize` as the Functions host sets it): 100 MB. */
export const maxRequestBodyInBytes = 104_857_600;

/** Keys the host checks for `function` and `admin` functions. */
export interface FunctionKeys {
  /** The `default` function key: accepted by `function` level functions. */
  default: string;
  /** The master (host admin) key: accepted everywhere, and the only key `admin` level functions accept. */
  master: string;
}

/** An HTTP function as the router sees it. */
export interface HttpFunction {
  name: string;
  options: HttpFunctionOptions;
  route: RouteTemplate;
  methods: ReadonlySet<string>;
  authLevel: "anonymous" | "function" | "admin";
}

/** Compiles the HTTP functions of the table, most specific route first. */
export function compileHttpFunctions(
  functions: ReadonlyArray<{ name: string; options: HttpFunctionOptions }>,
): HttpFunction[] {
  return functions
    .map(({ name, options }) => ({
      name,
      options,
      route: parseRouteTemplate(options.route ?? name),
      methods: new Set((options.methods ?? ["GET", "POST"]).map((m) => m.toUpperCase())),
      authLevel: options.authLevel ?? "anonymous",
    }))
    .sort((a, b) => compareRoutePrecedence(a.route, b.route));
}

/** What the HTTP front end needs from the rest of the host. */
export interface HttpFrontEnd {
  functions: readonly HttpFunction[];
  /** host.json `extensions.http.routePrefix`, without slashes. */
  routePrefix: string;
  keys: FunctionKeys;
  invoker: Invoker;
  /** True once `stop()` began: new requests get 503. */
  isStopping: () => boolean;
  /** `POST /admin/functions/{name}`: runs a non-HTTP function now. Returns false when there is no such function. */
  invokeNonHttp: (name: string) => boolean;
}

/** Builds the request listener of the host's HTTP server. */
export function createRequestListener(frontEnd: HttpFrontEnd): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    // Tracked as a whole, so that a graceful stop also waits for the response to be written.
    const handling = handle(frontEnd, req, res).catch((error: unknown) => {
      frontEnd.invoker.log("error", `HTTP pipeline error: ${frontEnd.invoker.redact(String(error))}`, {
        event: "http.error",
      });
      if (!res.headersSent) sendEmpty(res, 500);
      else res.destroy();
    });
    frontEnd.invoker.track(handling);
  };
}

function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, "content-length": "0" });
  res.end();
}

function keyMatches(candidate: string | null | undefined, key: string): boolean {
  if (!candidate) return false;
  const a = Buffer.from(candidate);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

function presentedKey(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers["x-functions-key"];
  return (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get("code") ?? undefined;
}

function isAuthorized(level: HttpFunction["authLevel"], key: string | undefined, keys: FunctionKeys): boolean {
  if (level === "anonymous") return true;
  if (keyMatches(key, keys.master)) return true;
  return level === "function" && keyMatches(key, keys.default);
}

async function handle(frontEnd: HttpFrontEnd, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (frontEnd.isStopping()) {
    sendEmpty(res, 503, { connection: "close" });
    return;
  }
  const url = new URL(req.url ?? "/", "http://localhost");
  const method = (req.method ?? "GET").toUpperCase();
  const prefix = frontEnd.routePrefix === "" ? "" : `/${frontEnd.routePrefix}`;
  const pathname = url.pathname;

  if (pathname.toLowerCase().startsWith("/admin/")) {
    handleAdmin(frontEnd, req, res, url, method);
    return;
  }
  let below: string | undefined;
  if (prefix === "") below = pathname.slice(1);
  else if (pathname.toLowerCase() === prefix.toLowerCase()) below = "";
  else if (pathname.toLowerCase().startsWith(`${prefix.toLowerCase()}/`)) below = pathname.slice(prefix.length + 1);
  if (below === undefined) {
    if (pathname === "/" && (method === "GET" || method === "HEAD")) {
      // The real host answers its root with a landing page; a health check can rely on it.
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      res.end(method === "HEAD" ? undefined : "Azure Functions local host is running.\n");
      return;
    }
    sendEmpty(res, 404);
    return;
  }

  const matched = frontEnd.functions
    .map((fn) => ({ fn, params: matchRoute(fn.route, below) }))
    .filter((m): m is { fn: HttpFunction; params: Record<string, string> } => m.params !== undefined);
  if (matched.length === 0) {
    sendEmpty(res, 404);
    return;
  }
  const target = matched.find((m) => m.fn.methods.has(method));
  if (!target) {
    const allowed = [...new Set(matched.flatMap((m) => [...m.fn.methods]))].sort().join(", ");
    sendEmpty(res, 405, { allow: allowed });
    return;
  }
  const { fn, params } = target;
  if (!isAuthorized(fn.authLevel, presentedKey(req, url), frontEnd.keys)) {
    sendEmpty(res, 401);
    return;
  }

  const body = await readBody(req);
  if (body === "tooLarge") {
    sendEmpty(res, 413, { connection: "close" });
    return;
  }

  const headers = flattenHeaders(req);
  const query: Record<string, string> = {};
  for (const key of new Set(url.searchParams.keys())) query[key] = url.searchParams.getAll(key).join(",");
  const host = headers.host ?? "localhost";
  const outcome = await frontEnd.invoker.invoke(
    {
      functionName: fn.name,
      trigger: {
        type: "httpTrigger",
        name: "httpTrigger",
        authLevel: fn.authLevel,
        methods: [...fn.methods],
        ...(fn.options.route === undefined ? {} : { route: fn.options.route }),
      },
      reason: `This function was programmatically called via the host APIs.`,
      traceParent: headers.traceparent,
      traceState: headers.tracestate,
    },
    async (context) => {
      const request = new HttpRequestClass({
        method,
        url: `http://${host}${req.url ?? "/"}`,
        body: { bytes: body },
        headers,
        query,
        params,
      });
      return fn.options.handler(request, context);
    },
  );
  if (!outcome.succeeded) {
    // As the real host: a bare 500. The exception is in the host log, never in the response.
    sendEmpty(res, 500);
    return;
  }
  await writeResponse(res, method, outcome.value, frontEnd);
}

function handleAdmin(
  frontEnd: HttpFrontEnd,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  method: string,
): void {
  const m = /^\/admin\/functions\/([^/]+)\/?$/i.exec(url.pathname);
  if (!m?.[1] || method !== "POST") {
    sendEmpty(res, 404);
    return;
  }
  if (!keyMatches(presentedKey(req, url), frontEnd.keys.master)) {
    sendEmpty(res, 401);
    return;
  }
  req.resume();
  const name = decodeURIComponent(m[1]);
  sendEmpty(res, frontEnd.invokeNonHttp(name) ? 202 : 404);
}

async function readBody(req: IncomingMessage): Promise<Uint8Array | "tooLarge"> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxRequestBodyInBytes) {
    req.resume();
    return "tooLarge";
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxRequestBodyInBytes) {
      req.resume();
      return "tooLarge";
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function isHttpResponse(value: object): value is HttpResponse {
  if (value instanceof HttpResponseClass) return true;
  const candidate = value as Partial<HttpResponse>;
  return candidate.headers instanceof Headers && typeof candidate.arrayBuffer === "function";
}

async function writeResponse(
  res: ServerResponse,
  method: string,
  result: unknown,
  frontEnd: HttpFrontEnd,
): Promise<void> {
  if (result === undefined || result === null) {
    // Functions 2.x and later answer 204 when the function returns no response.
    sendEmpty(res, 204);
    return;
  }
  if (typeof result !== "object") {
    frontEnd.invoker.log("error", "The HTTP response must be an object (HttpResponse or HttpResponseInit)", {
      event: "http.invalidResponse",
    });
    sendEmpty(res, 500);
    return;
  }
  let response: HttpResponse;
  try {
    response = isHttpResponse(result) ? result : new HttpResponseClass(result as HttpResponseInit);
  } catch (error) {
    frontEnd.invoker.log("error", `Invalid HTTP response: ${frontEnd.invoker.redact(String(error))}`, {
      event: "http.invalidResponse",
    });
    sendEmpty(res, 500);
    return;
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  const outgoing: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") outgoing[name] = value;
  });
  const setCookies = [...response.headers.getSetCookie(), ...response.cookies.map(serializeCookie)];
  if (setCookies.length > 0) outgoing["set-cookie"] = setCookies;
  outgoing["content-length"] = String(bytes.length);
  res.writeHead(response.status, outgoing);
  await new Promise<void>((resolve) => {
    res.end(method === "HEAD" || bytes.length === 0 ? undefined : bytes, () => resolve());
    res.once("close", () => resolve());
  });
}

/** A `Set-Cookie` value for a cookie of `HttpResponseInit.cookies`. */
export function serializeCookie(cookie: Cookie): string {
  const parts = [`${cookie.name}=${cookie.value}`];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.path) parts.push(`Path=${cookie.path}`);
  if (cookie.expires !== undefined) parts.push(`Expires=${new Date(cookie.expires).toUTCString()}`);
  if (cookie.maxAge !== undefined) parts.push(`Max-Age=${cookie.maxAge}`);
  if (cookie.secure) parts.push("Secure");
  if (cookie.httpOnly) parts.push("HttpOnly");
  if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
  return parts.join("; ");
}
