import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import path from "node:path";
import { gunzipSync } from "node:zlib";

/*
 * A local OpenTelemetry collector: an OTLP/HTTP receiver for traces (JSON encoding) that keeps what it receives in
 * a file and answers queries by attribute, so that a trace can be read back locally. The rules it follows, with their
 * sources, are in README.md beside this file. It knows nothing of what sends spans to it.
 */

/** A span as the collector keeps it: OTLP's fields, attributes as a plain object. */
export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer (0 unspecified). */
  kind: number;
  /** Nanoseconds since the Unix epoch, as a decimal string (a 64-bit integer does not fit a JSON number). */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, unknown>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  links: { traceId: string; spanId: string }[];
  events: { name: string; timeUnixNano: string; attributes: Record<string, unknown> }[];
  /** The resource's attributes (`service.name`, ...). */
  resource: Record<string, unknown>;
  /** The instrumentation scope's name. */
  scope: string;
}

export interface OtlpCollectorOptions {
  /** Folder of `spans.jsonl`: what was received survives a restart. */
  stateDir: string;
  /** 0 (default): a random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

export interface OtlpCollector {
  /** Base URL, e.g. `http://127.0.0.1:4318`: OTEL_EXPORTER_OTLP_ENDPOINT (spans are posted to `/v1/traces`). */
  endpoint: string;
  /** Every span received so far. */
  spans(): CollectedSpan[];
  stop(): Promise<void>;
}

/** Largest request body accepted (after decompression), in bytes. */
export const maxBodyInBytes = 16 * 1024 * 1024;

const hex = (length: number) => new RegExp(`^[0-9a-f]{${length}}$`);
const traceIdPattern = hex(32);
const spanIdPattern = hex(16);

class BadRequest extends Error {}

/** An OTLP AnyValue as a plain value (R4: 64-bit integers arrive as strings or numbers). */
function valueOf(any: unknown): unknown {
  if (!any || typeof any !== "object") return undefined;
  const v = any as Record<string, unknown>;
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return Number(v.doubleValue);
  if ("arrayValue" in v) {
    const values = (v.arrayValue as { values?: unknown[] } | undefined)?.values ?? [];
    return values.map(valueOf);
  }
  if ("kvlistValue" in v) return attributesOf((v.kvlistValue as { values?: unknown[] } | undefined)?.values);
  if ("bytesValue" in v) return v.bytesValue;
  return undefined;
}

function attributesOf(list: unknown): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  if (!Array.isArray(list)) return result;
  for (const entry of list) {
    if (entry && typeof entry === "object" && typeof (entry as { key?: unknown }).key === "string") {
      const { key, value } = entry as { key: string; value?: unknown };
      result[key] = valueOf(value);
    }
  }
  return result;
}

const idOf = (value: unknown) => (typeof value === "string" ? value.toLowerCase() : "");
const isZero = (id: string) => /^0+$/.test(id);
const nanosOf = (value: unknown) => (typeof value === "number" || typeof value === "string" ? String(value) : "0");

/**
 * The spans of an ExportTraceServiceRequest (JSON). Throws {@link BadRequest} when it is not one (R3); spans with an
 * invalid id are counted as rejected (R5).
 */
export function decodeExportRequest(body: unknown): { spans: CollectedSpan[]; rejected: number } {
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    throw new BadRequest("the body is not an ExportTraceServiceRequest (a JSON object)");
  }
  const resourceSpans = (body as { resourceSpans?: unknown }).resourceSpans ?? [];
  if (!Array.isArray(resourceSpans)) throw new BadRequest("resourceSpans is not an array");
  const spans: CollectedSpan[] = [];
  let rejected = 0;
  for (const rs of resourceSpans as Array<Record<string, unknown>>) {
    const resource = attributesOf((rs?.resource as { attributes?: unknown } | undefined)?.attributes);
    const scopeSpans = rs?.scopeSpans ?? [];
    if (!Array.isArray(scopeSpans)) throw new BadRequest("scopeSpans is not an array");
    for (const ss of scopeSpans as Array<Record<string, unknown>>) {
      const scope = String((ss?.scope as { name?: unknown } | undefined)?.name ?? "");
      const list = ss?.spans ?? [];
      if (!Array.isArray(list)) throw new BadRequest("spans is not an array");
      for (const s of list as Array<Record<string, unknown>>) {
        const traceId = idOf(s?.traceId);
        const spanId = idOf(s?.spanId);
        const parentSpanId = idOf(s?.parentSpanId);
        if (!traceIdPattern.test(traceId) || isZero(traceId) || !spanIdPattern.test(spanId) || isZero(spanId)) {
          rejected++;
          continue;
        }
        const status = (s.status ?? {}) as { code?: unknown; message?: unknown };
        spans.push({
          traceId,
          spanId,
          ...(spanIdPattern.test(parentSpanId) && !isZero(parentSpanId) ? { parentSpanId } : {}),
          name: typeof s.name === "string" ? s.name : "",
          kind: typeof s.kind === "number" ? s.kind : 0,
          startTimeUnixNano: nanosOf(s.startTimeUnixNano),
          endTimeUnixNano: nanosOf(s.endTimeUnixNano),
          attributes: attributesOf(s.attributes),
          status: {
            code: typeof status.code === "number" ? status.code : 0,
            ...(typeof status.message === "string" && status.message ? { message: status.message } : {}),
          },
          links: (Array.isArray(s.links) ? (s.links as Array<Record<string, unknown>>) : []).flatMap((l) => {
            const linkTrace = idOf(l?.traceId);
            const linkSpan = idOf(l?.spanId);
            return traceIdPattern.test(linkTrace) && spanIdPattern.test(linkSpan)
              ? [{ traceId: linkTrace, spanId: linkSpan }]
              : [];
          }),
          events: (Array.isArray(s.events) ? (s.events as Array<Record<string, unknown>>) : []).map((e) => ({
            name: typeof e?.name === "string" ? e.name : "",
            timeUnixNano: nanosOf(e?.timeUnixNano),
            attributes: attributesOf(e?.attributes),
          })),
          resource,
          scope,
        });
      }
    }
  }
  return { spans, rejected };
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyInBytes) throw new RangeError("too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Starts the collector on loopback; `stop()` closes it. */
export async function startOtlpCollector(options: OtlpCollectorOptions): Promise<OtlpCollector> {
  mkdirSync(options.stateDir, { recursive: true });
  const file = path.join(options.stateDir, "spans.jsonl");
  const spans: CollectedSpan[] = existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as CollectedSpan];
          } catch {
            return []; // a line cut by a crash
          }
        })
    : [];

  const receive = async (request: IncomingMessage, response: ServerResponse) => {
    const type = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") {
      // R2: this collector decodes the JSON encoding only.
      return send(response, 415, {
        message: `unsupported content type "${type || "(none)"}": this collector accepts OTLP/HTTP with application/json`,
      });
    }
    let raw: Buffer;
    try {
      raw = await readBody(request);
      const encoding = (request.headers["content-encoding"] ?? "identity").toLowerCase();
      if (encoding === "gzip") raw = gunzipSync(raw, { maxOutputLength: maxBodyInBytes });
      else if (encoding !== "identity") {
        return send(response, 415, { message: `unsupported content encoding "${encoding}" (gzip or none)` });
      }
    } catch (error) {
      if (error instanceof RangeError) {
        return send(response, 413, { message: `the request exceeds ${maxBodyInBytes} bytes` });
      }
      return send(response, 400, { message: "the gzip body cannot be decompressed" });
    }
    let decoded: { spans: CollectedSpan[]; rejected: number };
    try {
      decoded = decodeExportRequest(raw.length === 0 ? {} : JSON.parse(raw.toString("utf8")));
    } catch (error) {
      const message = error instanceof BadRequest ? error.message : "the body is not valid JSON";
      return send(response, 400, { message });
    }
    if (decoded.spans.length > 0) {
      appendFileSync(file, decoded.spans.map((s) => JSON.stringify(s)).join("\n") + "\n");
      spans.push(...decoded.spans);
    }
    // R5: a partial success names how many spans were rejected and why; a full success leaves it unset.
    send(
      response,
      200,
      decoded.rejected > 0
        ? {
            partialSuccess: {
              rejectedSpans: String(decoded.rejected),
              errorMessage: "spans need a 32-hex-digit traceId and a 16-hex-digit spanId, not all zeros",
            },
          }
        : {},
    );
  };

  /** Every span of the traces that hold a span with `attribute` = `value` (strings compared as given). */
  const query = (url: URL, response: ServerResponse) => {
    const attribute = url.searchParams.get("attribute");
    const value = url.searchParams.get("value");
    if (!attribute || value === null) {
      return send(response, 400, { message: "query with ?attribute=<name>&value=<value>" });
    }
    const traceIds = new Set(spans.filter((s) => String(s.attributes[attribute]) === value).map((s) => s.traceId));
    send(response, 200, { spans: spans.filter((s) => traceIds.has(s.traceId)) });
  };

  const sockets = new Set<Socket>();
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://collector");
    if (url.pathname === "/v1/traces") {
      if (request.method !== "POST") return send(response, 405, { message: "POST only" }, { allow: "POST" });
      receive(request, response).catch(() => send(response, 500, { message: "the collector failed" }));
      return;
    }
    if (url.pathname === "/_collector/traces" && request.method === "GET") return query(url, response);
    send(response, 404, { message: `no ${url.pathname} here (OTLP traces: POST /v1/traces)` });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${options.host ?? "127.0.0.1"}:${port}`,
    spans: () => [...spans],
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
