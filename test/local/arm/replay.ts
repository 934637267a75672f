import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { matchRoute } from "../../../local/arm/routes.js";
import type { Harness } from "./helpers.js";

/**
 * Replays recorded real Azure traffic (the Azure CLI's VCR recordings in `../shared/azure-samples/cli-recordings`)
 * against the ARM emulator and compares each answer on an operation the emulator serves with Azure's: status code,
 * response shape (property paths and JSON types, both ways) and values, leaving out values that are Azure's own
 * (ids it generates, times, principal ids, URIs of its storage) or depend on how long Azure took.
 */

export const samplesDir = path.resolve(new URL("../../../", import.meta.url).pathname, "../shared/azure-samples");

export interface RecordedInteraction {
  method: string;
  url: URL;
  requestBody?: string;
  status: number;
  headers: Record<string, string>;
  body?: unknown;
  dateMs: number;
}

export function loadRecording(file: string): RecordedInteraction[] {
  const doc = parseYaml(readFileSync(file, "utf8")) as {
    interactions: {
      request: { method: string; uri: string; body: string | null };
      response: { status: { code: number }; headers: Record<string, string[]>; body: { string: string } };
    }[];
  };
  return doc.interactions.map((i) => {
    const headers = Object.fromEntries(
      Object.entries(i.response.headers).map(([k, v]) => [k.toLowerCase(), String(v[0] ?? "")]),
    );
    const text = i.response.body?.string ?? "";
    let body: unknown;
    try {
      body = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      body = text;
    }
    return {
      method: i.request.method.toUpperCase(),
      url: new URL(i.request.uri),
      requestBody: i.request.body ?? undefined,
      status: i.response.status.code,
      headers,
      body,
      dateMs: Date.parse(headers["date"] ?? ""),
    };
  });
}

export function recordingFiles(): string[] {
  const dir = path.join(samplesDir, "cli-recordings");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => path.join(dir, f));
}

// ---------------------------------------------------------------- comparison

const guid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const isoDate = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;

/**
 * Values that are Azure's own and cannot be reproduced: generated ids and names, timestamps, principals, storage URIs,
 * checksums of scripts Azure downloaded, and the progress of work that depends on how long Azure took.
 */
const volatileLeaves =
  /(^|\.)(principalId|clientId|tenantId|correlationId|uniqueName|uniqueId|sha256Checksum|etag|updatedBy|progress|runSubState|startTime|endTime|publishedDate|createdOn|updatedOn)$/;

function volatile(pathName: string, value: unknown): boolean {
  if (volatileLeaves.test(pathName)) return true;
  if (typeof value !== "string") return false;
  if (isoDate.test(value)) return true;
  if (/IT_[^/]*_[0-9a-f-]{36}/i.test(value)) return true;
  if (/\.blob\.core\.windows\.net\//i.test(value)) return true;
  return guid.test(value) && !/\/subscriptions\/0{8}-0{4}-0{4}-0{4}-0{12}/.test(value);
}

function typeOf(value: unknown): string {
  return Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
}

function flatten(value: unknown, prefix = "", out = new Map<string, unknown>()): Map<string, unknown> {
  out.set(prefix || "$", typeOf(value) === "object" || typeOf(value) === "array" ? `<${typeOf(value)}>` : value);
  if (Array.isArray(value)) value.forEach((item, i) => flatten(item, `${prefix}[${i}]`, out));
  else if (typeof value === "object" && value !== null) {
    for (const [key, child] of Object.entries(value)) {
      // Map keys (tags, identities) are data, not shape: keep them, they are compared as values.
      flatten(child, `${prefix}${prefix ? "." : ""}${key}`, out);
    }
  }
  return out;
}

/**
 * The recorder replaced generated resource group names in URLs but missed some in bodies (an upper-case copy of the
 * real name, e.g. `CLITEST.RGYU75...` for `clitest.rg000001`): such a segment matches its sanitized form.
 */
function sameIds(recorded: string, emulated: string): boolean {
  const r = recorded.split("/");
  const e = emulated.split("/");
  if (r.length !== e.length) return false;
  return r.every((segment, i) => {
    const other = e[i]!;
    if (segment.toLowerCase() === other.toLowerCase()) return true;
    const sanitized = /^(.*?)\d{6}$/.exec(other);
    return (
      i > 0 &&
      r[i - 1]!.toLowerCase() === "resourcegroups" &&
      sanitized !== null &&
      segment === segment.toUpperCase() &&
      segment.startsWith(sanitized[1]!.toUpperCase())
    );
  });
}

function sameValue(pathName: string, recorded: unknown, emulated: unknown): boolean {
  if (typeof recorded === "string" && typeof emulated === "string") {
    const leaf = pathName.split(".").pop() ?? "";
    if (leaf === "location")
      return recorded.replace(/\s/g, "").toLowerCase() === emulated.replace(/\s/g, "").toLowerCase();
    if (recorded.startsWith("/subscriptions/") || recorded.startsWith("subscriptions/")) {
      return sameIds(recorded, emulated);
    }
  }
  return recorded === emulated;
}

/** Differences between Azure's answer and the emulator's, as readable lines (empty = they match). */
export function compareBodies(recorded: unknown, emulated: unknown): string[] {
  const want = flatten(recorded);
  const got = flatten(emulated);
  const differences: string[] = [];
  for (const [p, v] of want) {
    const leafPath = p.replace(/\[\d+\]/g, "[]");
    if (!got.has(p)) {
      differences.push(`missing ${p} (Azure: ${JSON.stringify(v)})`);
      continue;
    }
    const e = got.get(p);
    const recordedType = typeof v === "string" && v.startsWith("<") ? v : typeOf(v);
    const emulatedType = typeof e === "string" && e.startsWith("<") ? e : typeOf(e);
    if (recordedType !== emulatedType) {
      differences.push(`type of ${p}: Azure ${recordedType}, emulator ${emulatedType}`);
      continue;
    }
    if (typeof v === "string" && v.startsWith("<")) continue;
    if (volatile(leafPath, v)) continue;
    if (!sameValue(leafPath, v, e)) differences.push(`${p}: Azure ${JSON.stringify(v)}, emulator ${JSON.stringify(e)}`);
  }
  for (const p of got.keys())
    if (!want.has(p)) differences.push(`extra ${p} (emulator: ${JSON.stringify(got.get(p))})`);
  return differences;
}

// ---------------------------------------------------------------- replay

/** The leaked real subscription id in a few recorded bodies (the recorder's sanitizer missed it). */
const leakedSubscription = "0b1f6471-1bf0-4dda-aec3-cb9272f09590";
const recordedSubscription = "00000000-0000-0000-0000-000000000000";

export interface ReplayResult {
  file: string;
  interactions: number;
  replayed: number;
  matched: number;
  mismatches: string[];
  /** Interactions on what the emulator does not serve, by "METHOD resource type" (or host, off ARM). */
  notServed: Record<string, number>;
}

function operationKind(method: string, url: URL): string {
  if (url.host !== "management.azure.com") return `${method} ${url.host}`;
  const segments = url.pathname.split("/").filter(Boolean);
  const providers = segments.lastIndexOf("providers");
  if (providers < 0) return `${method} ${segments.filter((_, i) => i % 2 === 0).join("/")}`;
  const rest = segments.slice(providers + 1);
  return `${method} ${[rest[0], ...rest.slice(1).filter((_, i) => i % 2 === 0)].join("/")}`;
}

function isPoll(url: URL): boolean {
  return (
    /\/(capsOperations|operations|operationresults)\/[^/]+$/i.test(url.pathname) &&
    !/\/deployments\//i.test(url.pathname)
  );
}

function terminalPoll(recorded: RecordedInteraction): boolean {
  if (recorded.status !== 200) return false;
  const status = (recorded.body as { status?: string } | undefined)?.status;
  return status === undefined || ["Succeeded", "Failed", "Canceled"].includes(status);
}

function emulatedPollDone(status: number, body: unknown): boolean {
  if (status === 202) return false;
  const s = (body as { status?: string } | undefined)?.status;
  return s !== "InProgress";
}

/** Merges what unserved GETs showed of a resource (a VM with and without its instance view). */
function mergeValues(prev: unknown, next: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (isObject(prev) && isObject(next)) return mergeDeep(prev, next);
  if (Array.isArray(prev) && Array.isArray(next) && prev.length === next.length) {
    return next.map((item, i) => mergeValues(prev[i], item));
  }
  return next;
}

function mergeDeep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = mergeValues(prev, v);
  }
  return out;
}

/**
 * Replays one recording: resource groups the CLI test framework created outside the recording and the platform
 * images the recording shows are seeded first; resources of operations the emulator does not serve (virtual machines,
 * disks, networks, deployments) are seeded from what Azure answered for them; every interaction on an operation the
 * emulator serves is sent and compared. Long-running operations keep their pace: a poll Azure answered InProgress is
 * sent as is, a poll Azure answered with an end state moves the emulator's clock on until it ends too.
 */
export async function replayRecording(h: Harness, file: string): Promise<ReplayResult> {
  const interactions = loadRecording(file);
  const result: ReplayResult = {
    file: path.basename(file),
    interactions: interactions.length,
    replayed: 0,
    matched: 0,
    mismatches: [],
    notServed: {},
  };
  await h.admin("POST", "reset");
  // Durations long enough that nothing ends before Azure's recorded answers say it did.
  await h.admin("PUT", "config", {
    operationDurationInMs: 60_000,
    deleteDurationInMs: 60_000,
    replication: { regionDurationInMs: 60_000 },
    imageBuilder: {
      phaseDurationsInMs: {
        Queued: 60_000,
        Building: 60_000,
        Customizing: 60_000,
        Optimizing: 60_000,
        Validating: 60_000,
        Distributing: 60_000,
      },
      cancelDurationInMs: 60_000,
    },
    throttling: { enabled: false },
  });

  // Resource groups the test framework made before recording, from the first recorded GET of each.
  const groups = new Map<string, { location: string; tags?: Record<string, string> }>();
  for (const i of interactions) {
    const match = /^\/subscriptions\/[^/]+\/resourcegroups\/([^/]+)$/i.exec(i.url.pathname);
    if (match && i.method === "GET" && i.status === 200) {
      const name = match[1]!;
      const body = i.body as { location: string; tags?: Record<string, string> };
      if (!groups.has(name.toLowerCase())) groups.set(name.toLowerCase(), { location: body.location, tags: body.tags });
    }
  }
  // Platform images the recording looked at, with the properties Azure reported.
  const platformImages = new Map<string, Record<string, unknown>>();
  for (const i of interactions) {
    const m =
      /\/locations\/([^/]+)\/publishers\/([^/]+)\/artifacttypes\/vmimage\/offers\/([^/]+)\/skus\/([^/]+)\/versions(?:\/([^/]+))?$/i.exec(
        i.url.pathname,
      );
    if (!m || i.status !== 200) continue;
    const key = [m[2], m[3], m[4]].join("|").toLowerCase();
    const set = platformImages.get(key) ?? { publisher: m[2], offer: m[3], sku: m[4], versions: [] as string[] };
    const bodies = Array.isArray(i.body)
      ? (i.body as { name: string }[])
      : [i.body as { name: string; properties?: Record<string, unknown> }];
    for (const b of bodies)
      if (!(set["versions"] as string[]).includes(b.name)) (set["versions"] as string[]).push(b.name);
    const props = (i.body as { properties?: Record<string, unknown> }).properties;
    if (props) {
      const osDisk = props["osDiskImage"] as { operatingSystem?: string; sizeInBytes?: number } | undefined;
      Object.assign(set, {
        hyperVGeneration: props["hyperVGeneration"],
        architecture: props["architecture"],
        features: props["features"] ?? [],
        osType: osDisk?.operatingSystem,
        osDiskSizeInBytes: osDisk?.sizeInBytes,
        automaticOSUpgradeSupported: (
          props["automaticOSUpgradeProperties"] as { automaticOSUpgradeSupported?: boolean } | undefined
        )?.automaticOSUpgradeSupported,
      });
    }
    platformImages.set(key, set);
  }
  // ... and the platform images the recorded templates name (the version asked for, or the one Azure resolved
  // "latest" to), which Azure has whether or not the recording looked.
  for (const i of interactions) {
    const sources = [i.requestBody, i.body].map((raw) => {
      try {
        const doc = typeof raw === "string" ? JSON.parse(raw) : raw;
        return (doc as { properties?: { source?: Record<string, string> } } | undefined)?.properties?.source;
      } catch {
        return undefined;
      }
    });
    for (const source of sources) {
      if (source?.["type"] !== "PlatformImage") continue;
      const version = [source["exactVersion"], source["version"]].find((v) => v && v !== "latest");
      if (!version) continue;
      const key = [source["publisher"], source["offer"], source["sku"]].join("|").toLowerCase();
      const set = platformImages.get(key) ?? {
        publisher: source["publisher"],
        offer: source["offer"],
        sku: source["sku"],
        versions: [] as string[],
      };
      if (!(set["versions"] as string[]).includes(version)) (set["versions"] as string[]).push(version);
      platformImages.set(key, set);
    }
  }
  const subscriptionId = recordedSubscription;
  await h.admin("POST", "seed", {
    subscriptionId,
    resourceGroups: [...groups].map(([name, group]) => ({ name, ...group })),
  });
  if (platformImages.size > 0)
    await h.admin("PUT", "platform-images", { images: [...platformImages.values()], replace: true });

  const pollUrls = new Map<string, string>();
  const replacements = new Map<string, string>([[leakedSubscription, recordedSubscription]]);
  const unserved = new Map<
    string,
    { location: string; properties: Record<string, unknown>; tags?: Record<string, string> }
  >();
  const endpoint = h.emulator.endpoint;
  const presumedVms = new Set<string>();

  for (const [index, recorded] of interactions.entries()) {
    if (recorded.url.host !== "management.azure.com") {
      const kind = operationKind(recorded.method, recorded.url);
      result.notServed[kind] = (result.notServed[kind] ?? 0) + 1;
      continue;
    }
    const armPath = recorded.url.pathname;
    const label = `${result.file}#${index} ${recorded.method} ${armPath}`;
    const poll = isPoll(recorded.url);
    const route = poll ? undefined : matchRoute(recorded.method, armPath);
    const vmOperation =
      /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/virtualMachines\/[^/]+)\/./i.exec(
        armPath,
      );
    // A VM that unserved operations made (a deployment) or changed (deallocate, generalize): the emulator does not
    // model those, so its reads are the world the recording presumes, not answers to compare.
    if (vmOperation && recorded.method === "POST") presumedVms.add(vmOperation[1]!.toLowerCase());
    const presumedVm =
      typeof route === "object" &&
      route.route.operation === "VirtualMachines_Get" &&
      (presumedVms.has(armPath.toLowerCase()) ||
        (await h.raw("GET", `/_emulator/resource?id=${encodeURIComponent(armPath)}`)).status === 404);
    if (presumedVm) presumedVms.add(armPath.toLowerCase());
    const served =
      !presumedVm &&
      (poll ? pollUrls.has(armPath.toLowerCase()) : route !== undefined && route !== "method-not-allowed");
    if (!served) {
      const kind = operationKind(recorded.method, recorded.url);
      result.notServed[kind] = (result.notServed[kind] ?? 0) + 1;
      // Not an operation the emulator serves: keep what Azure showed of the resource, for the rules that read it.
      const body = recorded.body as
        | { id?: string; location?: string; properties?: Record<string, unknown>; tags?: Record<string, string> }
        | undefined;
      if (
        recorded.status < 300 &&
        body &&
        typeof body === "object" &&
        typeof body.id === "string" &&
        body.location &&
        body.properties
      ) {
        const key = body.id.toLowerCase();
        const prev = unserved.get(key);
        const merged = {
          location: body.location,
          tags: body.tags,
          properties: mergeDeep(prev?.properties ?? {}, body.properties),
        };
        unserved.set(key, merged);
        await h.admin("POST", "seed", { subscriptionId, resources: [{ id: body.id, ...merged }] });
      }
      continue;
    }
    result.replayed += 1;
    let requestBody = recorded.requestBody;
    for (const [from, to] of replacements) requestBody = requestBody?.replaceAll(from, to);
    const target = poll ? pollUrls.get(armPath.toLowerCase())! : `${endpoint}${armPath}${recorded.url.search}`;
    const send = () =>
      h.raw(recorded.method as "GET", target.slice(endpoint.length), {
        token: "replay",
        body: requestBody ? (JSON.parse(requestBody) as unknown) : undefined,
      });
    let response = await send();
    if (poll && terminalPoll(recorded)) {
      for (let step = 0; step < 200 && !emulatedPollDone(response.status, response.body); step++) {
        await h.admin("POST", "clock", { advanceByMs: 60_000 });
        response = await send();
      }
    }

    const differences: string[] = [];
    if (response.status !== recorded.status)
      differences.push(`status: Azure ${recorded.status}, emulator ${response.status}`);
    for (const header of ["azure-asyncoperation", "location"]) {
      const recordedHeader = recorded.headers[header];
      const emulatedHeader = response.headers[header];
      if (recordedHeader && !emulatedHeader) differences.push(`missing header ${header}`);
      if (!recordedHeader && emulatedHeader && recorded.status !== 202) differences.push(`extra header ${header}`);
      const key = recordedHeader ? new URL(recordedHeader, "https://management.azure.com").pathname.toLowerCase() : "";
      // Clients poll the Azure-AsyncOperation URL when there is one (the Location one when there is not).
      if (emulatedHeader && /\/(capsOperations|operations|operationresults)\//i.test(key) && !pollUrls.has(key)) {
        pollUrls.set(key, emulatedHeader);
      }
    }
    if (recorded.body !== undefined || response.body !== undefined) {
      const groupRead = /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+$/i.test(armPath);
      // Tags an Azure Policy of the recording's subscription added to its resource groups are not the API's doing.
      differences.push(
        ...compareBodies(recorded.body, response.body).filter((d) => !(groupRead && /^missing tags\./.test(d))),
      );
    }
    // Identities: the emulator's principals stand for Azure's in later requests (role assignments name them).
    const recordedProps = recorded.body as { properties?: Record<string, string>; type?: string } | undefined;
    const emulatedProps = response.body as { properties?: Record<string, string> } | undefined;
    if (recordedProps?.type === "Microsoft.ManagedIdentity/userAssignedIdentities" && emulatedProps?.properties) {
      for (const k of ["principalId", "clientId"]) {
        const from = recordedProps.properties?.[k];
        const to = emulatedProps.properties[k];
        if (from && to) replacements.set(from, to);
      }
    }
    if (differences.length === 0) result.matched += 1;
    else result.mismatches.push(`${label} -> ${recorded.status}\n    ${differences.join("\n    ")}`);
  }
  return result;
}
