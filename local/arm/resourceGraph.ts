import { createHash, randomUUID } from "node:crypto";
import { asObject, type Ctx, type Reply } from "./context.js";
import { fleetView, scaleSetInstanceType } from "./fleet.js";
import {
  galleryType,
  galleryView,
  imageDefinitionType,
  imageDefinitionView,
  imageVersionType,
  imageVersionView,
} from "./gallery.js";
import { KqlError, parseKql, runKql, type Row } from "./kql.js";
import { normalizeRegion } from "./names.js";
import { roleAssignmentType } from "./resources.js";
import type { Store, StoredResource } from "./store.js";

/**
 * Azure Resource Graph's query endpoint, `POST /providers/Microsoft.ResourceGraph/resources` (rules RG1-RG8 in
 * README.md): the `Resources`, `ComputeResources` and `ResourceContainers` tables built from what the emulator holds,
 * the KQL subset of kql.ts, `$top`/`$skip`/`$skipToken` paging, both result formats, the per-user quota with its
 * headers, and the caller's access per subscription. Every answer, errors included, carries the quota headers.
 */

export const resourceGraphApiVersions = ["2024-04-01", "2022-10-01", "2021-03-01", "2019-04-01"];

/** The per-user quota window (Resource Graph throttles per user; the emulator has one caller). */
export class ResourceGraphQuota {
  private windowStartMs = 0;
  private used = 0;

  /**
   * Takes one query from the window; `allowed: false` when the window is spent. On the emulator's clock (real time plus
   * the admin offset), so a test moves time past a window instead of sleeping through it.
   */
  take(store: Store, nowMs: number): { allowed: boolean; remaining: number; resetsAfterMs: number } {
    const { enabled, queriesPerWindow, windowInMs } = store.config.resourceGraph.quota;
    if (nowMs - this.windowStartMs >= windowInMs) {
      this.windowStartMs = nowMs;
      this.used = 0;
    }
    const resetsAfterMs = this.windowStartMs + windowInMs - nowMs;
    if (enabled && this.used >= queriesPerWindow) return { allowed: false, remaining: 0, resetsAfterMs };
    this.used += 1;
    return { allowed: true, remaining: Math.max(0, queriesPerWindow - this.used), resetsAfterMs };
  }

  reset(): void {
    this.windowStartMs = 0;
    this.used = 0;
  }
}

/** `hh:mm:ss`, as `x-ms-user-quota-resets-after` is documented. */
export function formatResetsAfter(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor((seconds % 3600) / 60))}:${pad(seconds % 60)}`;
}

function errorReply(
  status: number,
  code: string,
  details: Record<string, unknown>[],
  headers: Record<string, string>,
): Reply {
  return {
    status,
    headers,
    body: {
      error: {
        code,
        message: `Please provide below info when asking for support: timestamp = ${new Date().toISOString()}, correlationId = ${randomUUID()}.`,
        details,
      },
    },
  };
}

const invalidQuery = {
  code: "InvalidQuery",
  message:
    "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying.",
};

function badRequest(detail: Record<string, unknown>, headers: Record<string, string>): Reply {
  return errorReply(400, "BadRequest", [invalidQuery, detail], headers);
}

/** What Resource Graph shows of a resource: its ARM view, with `type`, `location` and `resourceGroup` in lower case. */
function rowOf(store: Store, resource: StoredResource): Row {
  let view: Record<string, unknown>;
  switch (resource.type) {
    case imageVersionType:
      view = asObject(imageVersionView(store, resource));
      break;
    case imageDefinitionType:
      view = asObject(imageDefinitionView(store, resource));
      break;
    case galleryType:
      view = asObject(galleryView(store, resource));
      break;
    default:
      view = fleetView(store, resource) ?? { properties: resource.properties };
  }
  return {
    id: resource.id,
    name: resource.name,
    type: resource.type.toLowerCase(),
    tenantId: null,
    kind: "",
    location: normalizeRegion(resource.location),
    resourceGroup: resource.resourceGroup.toLowerCase(),
    subscriptionId: resource.subscriptionId,
    managedBy: "",
    sku: view["sku"] ?? null,
    plan: null,
    properties: view["properties"] ?? {},
    tags: resource.tags ?? {},
    identity: resource.identity ?? null,
    zones: null,
    extendedLocation: null,
  };
}

function tableRows(store: Store, table: string, subscriptions: string[] | undefined): Row[] | undefined {
  const inScope = (s: string) => subscriptions === undefined || subscriptions.includes(s.toLowerCase());
  const resources = [...store.resources.values()].filter((r) => inScope(r.subscriptionId));
  switch (table) {
    case "resources":
      return resources
        .filter((r) => r.type !== roleAssignmentType && r.type !== scaleSetInstanceType)
        .map((r) => rowOf(store, r));
    case "computeresources":
      return resources.filter((r) => r.type === scaleSetInstanceType).map((r) => rowOf(store, r));
    case "resourcecontainers": {
      const ids = subscriptions ?? [...new Set([...store.groups.values()].map((g) => g.subscriptionId.toLowerCase()))];
      const subscriptionRows = ids.map((s) => ({
        id: `/subscriptions/${s}`,
        name: s,
        type: "microsoft.resources/subscriptions",
        subscriptionId: s,
        resourceGroup: "",
        location: "",
        properties: { state: "Enabled" },
        tags: {},
      }));
      const groupRows = [...store.groups.values()]
        .filter((g) => inScope(g.subscriptionId) && g.deletingUntilMs === undefined)
        .map((g) => ({
          id: `/subscriptions/${g.subscriptionId}/resourceGroups/${g.name}`,
          name: g.name,
          type: "microsoft.resources/subscriptions/resourcegroups",
          subscriptionId: g.subscriptionId,
          resourceGroup: g.name.toLowerCase(),
          location: normalizeRegion(g.location),
          properties: { provisioningState: "Succeeded" },
          tags: g.tags ?? {},
        }));
      return [...subscriptionRows, ...groupRows];
    }
    default:
      return undefined;
  }
}

interface PageToken {
  /** Offset of the next page. */
  o: number;
  /** Page size. */
  n: number;
  /** Hash of the query and scope the token belongs to. */
  q: string;
}

function columnType(values: unknown[]): string {
  const v = values.find((x) => x !== null && x !== undefined);
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "object" && v !== undefined) return "object";
  return "string";
}

/** Answers a query, within the caller's quota window. */
export function queryResources(ctx: Ctx): Reply {
  const take = ctx.resourceGraphQuota.take(ctx.store, ctx.nowMs);
  const headers = {
    "x-ms-user-quota-remaining": String(take.remaining),
    "x-ms-user-quota-resets-after": formatResetsAfter(take.resetsAfterMs),
  };
  if (!take.allowed) {
    return errorReply(
      429,
      "RateLimiting",
      [
        {
          code: "RateLimiting",
          message:
            "Client application has been throttled and should not attempt to repeat the request until an amount of time has elapsed. Please see https://aka.ms/resourcegraph-throttling for help.",
        },
      ],
      headers,
    );
  }
  const body = asObject(ctx.body);
  const text = body["query"];
  if (typeof text !== "string" || text.trim() === "") {
    return badRequest({ code: "MissingQuery", message: "The request is missing the 'query' property." }, headers);
  }
  if (body["managementGroups"] !== undefined) {
    return badRequest(
      { code: "NotModelled", message: "Management group scopes are not modelled by the emulator." },
      headers,
    );
  }
  const options = asObject(body["options"]);
  const top = options["$top"];
  if (top !== undefined && !(Number.isInteger(top) && (top as number) >= 1 && (top as number) <= 1000)) {
    return badRequest(
      {
        code: "InvalidParameter",
        message: `The value of '$top' must be between 1 and 1000, not ${JSON.stringify(top)}.`,
      },
      headers,
    );
  }
  const skip = options["$skip"];
  if (skip !== undefined && !(Number.isInteger(skip) && (skip as number) >= 0)) {
    return badRequest({ code: "InvalidParameter", message: "The value of '$skip' must be 0 or more." }, headers);
  }

  const requested = Array.isArray(body["subscriptions"])
    ? (body["subscriptions"] as unknown[]).map((s) => String(s).toLowerCase())
    : undefined;
  const denied = new Set(ctx.store.config.resourceGraph.deniedSubscriptions.map((s) => s.toLowerCase()));
  let scope = requested?.filter((s) => !denied.has(s));
  if (requested !== undefined && requested.length > 0 && scope!.length === 0) {
    return errorReply(
      403,
      "AccessDenied",
      [
        {
          code: "AccessDenied",
          message: "Access is denied to the requested resource. The user might not have enough permission.",
        },
      ],
      headers,
    );
  }
  if (requested === undefined || requested.length === 0) {
    scope = [...new Set([...ctx.store.groups.values()].map((g) => g.subscriptionId.toLowerCase()))].filter(
      (s) => !denied.has(s),
    );
  }

  let result: { rows: Row[]; columns: string[] };
  try {
    const query = parseKql(text);
    const rows = tableRows(ctx.store, query.table, scope);
    if (!rows) {
      return badRequest(
        {
          code: "InvalidQueryLanguage",
          message: "InvalidQueryLanguage",
          line: 1,
          characterPositionInLine: 0,
          token: query.table,
        },
        headers,
      );
    }
    result = runKql(
      query,
      rows.sort((a, b) => (String(a["id"]) < String(b["id"]) ? -1 : 1)),
    );
  } catch (error) {
    if (!(error instanceof KqlError)) throw error;
    const code = error.kind === "language" ? "InvalidQueryLanguage" : "ParserFailure";
    return badRequest(
      { code, message: code, line: error.line, characterPositionInLine: error.column, token: error.token },
      headers,
    );
  }

  const fingerprint = createHash("sha256")
    .update(JSON.stringify([text, scope]))
    .digest("hex")
    .slice(0, 16);
  let offset = typeof skip === "number" ? skip : 0;
  let pageSize = typeof top === "number" ? top : 100;
  const token = options["$skipToken"];
  if (token !== undefined) {
    let parsed: PageToken | undefined;
    try {
      parsed = JSON.parse(Buffer.from(String(token), "base64").toString("utf8")) as PageToken;
    } catch {
      parsed = undefined;
    }
    if (!parsed || typeof parsed.o !== "number" || parsed.q !== fingerprint) {
      return badRequest(
        { code: "InvalidSkipToken", message: "The skip token is not valid for this query and scope." },
        headers,
      );
    }
    offset = parsed.o;
    // `$top` overrides the page size the token captured (spec, QueryRequestOptions.$top).
    if (typeof top !== "number") pageSize = parsed.n;
  }

  const total = result.rows.length;
  const data = result.rows.slice(offset, offset + pageSize);
  const more = offset + data.length < total;
  // Paging needs the `id` column: without it there is no token, and a longer result is cut [RG3].
  const pageable = result.columns.includes("id");
  const format = options["resultFormat"] ?? (ctx.apiVersion >= "2021-03-01" ? "objectArray" : "table");
  return {
    status: 200,
    headers,
    body: {
      totalRecords: total,
      count: data.length,
      resultTruncated: more && !pageable ? "true" : "false",
      ...(more && pageable
        ? {
            $skipToken: Buffer.from(
              JSON.stringify({ o: offset + data.length, n: pageSize, q: fingerprint } satisfies PageToken),
            ).toString("base64"),
          }
        : {}),
      facets: [],
      data:
        format === "table"
          ? {
              columns: result.columns.map((name) => ({ name, type: columnType(data.map((r) => r[name])) })),
              rows: data.map((r) => result.columns.map((c) => r[c] ?? null)),
            }
          : data,
    },
  };
}
