import * as z from "zod";
import {
  deepMerge,
  emulatorConfigSchema,
  faultScriptSchema,
  platformImageSetSchema,
  templateRuleSchema,
  versionRuleSchema,
  type EmulatorConfig,
} from "./config.js";
import { asObject, isoTime, plainProvisioningState, type Reply } from "./context.js";
import { managedImageView, writeManagedImage } from "./compute.js";
import { ArmError } from "./errors.js";
import {
  galleryId,
  galleryType,
  imageDefinitionId,
  imageDefinitionType,
  imageVersionView,
  resolveLatest,
  versionProvisioningState,
  writeVersion,
} from "./gallery.js";
import { fleetView, scaleSetInstanceType, scaleSetType, virtualMachineType } from "./fleet.js";
import { templateView } from "./imageBuilder.js";
import { writeIdentity, writePlainResource, writeRoleAssignment } from "./resources.js";
import type { Counters, FaultInjector, Throttler } from "./limits.js";
import type { ResourceGraphQuota } from "./resourceGraph.js";
import { regionDisplayName, sameRegion } from "./names.js";
import type { Store, StoredResource } from "./store.js";
import { randomUUID } from "node:crypto";

export const defaultSubscriptionId = "00000000-0000-0000-0000-000000000000";

export interface AdminDeps {
  store: Store;
  counters: Counters;
  throttler: Throttler;
  faults: FaultInjector;
  resourceGraphQuota: ResourceGraphQuota;
}

function badRequest(error: unknown): ArmError {
  const message = error instanceof z.ZodError ? z.prettifyError(error) : String(error);
  return new ArmError(400, "InvalidRequestContent", message);
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) throw badRequest(result.error);
  return result.data;
}

function updateConfig(deps: AdminDeps, patch: unknown): EmulatorConfig {
  const merged = deepMerge(deps.store.config, patch);
  deps.store.config = parse(emulatorConfigSchema, merged);
  deps.store.changed();
  return deps.store.config;
}

const seedVersionSchema = z.object({
  resourceGroup: z.string(),
  gallery: z.string(),
  imageDefinition: z.string(),
  name: z.string(),
  location: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.record(z.string(), z.unknown()).optional(),
  /** When it was published (default now); replication of regions not listed below completed then. */
  createdAt: z.string().optional(),
  /** Regions still replicating, each for `remainingInMs` more (default: the configured region duration). */
  replicatingRegions: z.array(z.string()).optional(),
  remainingInMs: z.number().int().min(0).optional(),
  /** Regions whose replication Failed. */
  failedRegions: z.array(z.string()).optional(),
  failureMessage: z.string().optional(),
});

/** A gallery or a managed image to seed: both are plain resources of a resource group. */
const seedResourceSchema = z.object({
  resourceGroup: z.string(),
  name: z.string(),
  location: z.string(),
  tags: z.record(z.string(), z.string()).optional(),
  properties: z.record(z.string(), z.unknown()).optional(),
});

export const seedSchema = z.object({
  subscriptionId: z.string().optional(),
  /** User-assigned identities (Microsoft.ManagedIdentity), as `azd provision` would create them. */
  identities: z.array(z.object({ resourceGroup: z.string(), name: z.string(), location: z.string() })).optional(),
  /** Role assignments: a scope (resource group or resource id) and a role definition id for a principal. */
  roleAssignments: z
    .array(
      z.object({
        scope: z.string(),
        roleDefinitionId: z.string(),
        principalId: z.string(),
        principalType: z.string().optional(),
      }),
    )
    .optional(),
  /**
   * Resources the emulator holds without serving them (virtual machines, disks, snapshots, virtual networks, storage
   * accounts), by full id: version sources and Image Builder's network rule read them.
   */
  resources: z
    .array(
      z.object({
        id: z.string(),
        location: z.string(),
        tags: z.record(z.string(), z.string()).optional(),
        properties: z.record(z.string(), z.unknown()).optional(),
      }),
    )
    .optional(),
  resourceGroups: z
    .array(z.object({ name: z.string(), location: z.string(), tags: z.record(z.string(), z.string()).optional() }))
    .optional(),
  galleries: z.array(seedResourceSchema).optional(),
  imageDefinitions: z
    .array(
      z.object({
        resourceGroup: z.string(),
        gallery: z.string(),
        name: z.string(),
        location: z.string().optional(),
        tags: z.record(z.string(), z.string()).optional(),
        properties: z.record(z.string(), z.unknown()),
      }),
    )
    .optional(),
  imageVersions: z.array(seedVersionSchema).optional(),
  managedImages: z.array(seedResourceSchema).optional(),
});
export type Seed = z.infer<typeof seedSchema>;

function seed(store: Store, input: Seed): Record<string, number> {
  const s = input.subscriptionId ?? defaultSubscriptionId;
  const nowMs = store.now();
  const ensureGroup = (name: string, location: string) => {
    if (!store.getGroup(s, name)) store.putGroup({ subscriptionId: s, name, location, createdAtMs: nowMs });
  };
  for (const g of input.resourceGroups ?? []) {
    store.putGroup({ subscriptionId: s, name: g.name, location: g.location, tags: g.tags, createdAtMs: nowMs });
  }
  for (const i of input.identities ?? []) {
    ensureGroup(i.resourceGroup, i.location);
    writeIdentity(
      store,
      { subscriptionId: s, resourceGroup: i.resourceGroup, name: i.name, location: i.location },
      nowMs,
    );
  }
  for (const r of input.resources ?? []) {
    const rg = /\/resourceGroups\/([^/]+)/i.exec(r.id)?.[1];
    if (rg) ensureGroup(rg, r.location);
    writePlainResource(store, r, nowMs);
  }
  for (const a of input.roleAssignments ?? []) {
    writeRoleAssignment(store, { subscriptionId: s, ...a }, nowMs);
  }
  for (const g of input.galleries ?? []) {
    ensureGroup(g.resourceGroup, g.location);
    store.put({
      id: galleryId(s, g.resourceGroup, g.name),
      type: galleryType,
      name: g.name,
      location: g.location,
      subscriptionId: s,
      resourceGroup: g.resourceGroup,
      tags: g.tags,
      properties: g.properties ?? {},
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    });
  }
  for (const d of input.imageDefinitions ?? []) {
    const parent = store.get(galleryId(s, d.resourceGroup, d.gallery));
    if (!parent)
      throw new ArmError(
        400,
        "InvalidRequestContent",
        `Seed: gallery '${d.gallery}' of definition '${d.name}' is missing.`,
      );
    store.put({
      id: imageDefinitionId(s, d.resourceGroup, d.gallery, d.name),
      type: imageDefinitionType,
      name: d.name,
      location: d.location ?? parent.location,
      subscriptionId: s,
      resourceGroup: d.resourceGroup,
      tags: d.tags,
      properties: { hyperVGeneration: "V1", architecture: "x64", ...d.properties },
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    });
  }
  for (const m of input.managedImages ?? []) {
    ensureGroup(m.resourceGroup, m.location);
    writeManagedImage(
      store,
      {
        subscriptionId: s,
        resourceGroup: m.resourceGroup,
        name: m.name,
        location: m.location,
        tags: m.tags,
        properties: m.properties ?? {},
      },
      nowMs,
    );
  }
  for (const v of input.imageVersions ?? []) {
    const definition = store.get(imageDefinitionId(s, v.resourceGroup, v.gallery, v.imageDefinition));
    const createdMs = v.createdAt ? Date.parse(v.createdAt) : nowMs;
    const properties = { storageProfile: {}, ...(v.properties ?? {}) };
    const { version } = writeVersion(
      store,
      {
        subscriptionId: s,
        resourceGroup: v.resourceGroup,
        gallery: v.gallery,
        imageDefinition: v.imageDefinition,
        version: v.name,
        body: { location: v.location ?? definition?.location ?? "westus", tags: v.tags, properties },
        skipSourceCheck: true,
      },
      createdMs,
    );
    const replicating = v.replicatingRegions ?? [];
    const failed = v.failedRegions ?? [];
    version.replication = {
      phase: "create",
      regions: (version.replication?.regions ?? []).map((r) => {
        if (replicating.some((x) => sameRegion(x, r.region))) {
          return {
            region: r.region,
            startMs: nowMs,
            durationMs: v.remainingInMs ?? store.config.replication.regionDurationInMs,
          };
        }
        if (failed.some((x) => sameRegion(x, r.region))) {
          return {
            region: r.region,
            startMs: createdMs,
            durationMs: 0,
            failureMessage:
              v.failureMessage ?? `Replication of the image version to region '${regionDisplayName(r.region)}' failed.`,
          };
        }
        return { region: r.region, startMs: createdMs, durationMs: 0 };
      }),
    };
    store.put(version);
  }
  return {
    identities: input.identities?.length ?? 0,
    roleAssignments: input.roleAssignments?.length ?? 0,
    resources: input.resources?.length ?? 0,
    resourceGroups: input.resourceGroups?.length ?? 0,
    galleries: input.galleries?.length ?? 0,
    imageDefinitions: input.imageDefinitions?.length ?? 0,
    imageVersions: input.imageVersions?.length ?? 0,
    managedImages: input.managedImages?.length ?? 0,
  };
}

function provisioningStateOf(store: Store, r: StoredResource): string {
  if (r.type === "Microsoft.Compute/galleries/images/versions") return versionProvisioningState(r, store.now());
  return plainProvisioningState(r, store.now());
}

function listResources(store: Store, url: URL): unknown {
  const type = url.searchParams.get("type")?.toLowerCase();
  const subscriptionId = url.searchParams.get("subscriptionId")?.toLowerCase();
  const resourceGroup = url.searchParams.get("resourceGroup")?.toLowerCase();
  const counts: Record<string, number> = {};
  const resources: unknown[] = [];
  for (const r of store.resources.values()) {
    if (subscriptionId && r.subscriptionId.toLowerCase() !== subscriptionId) continue;
    if (resourceGroup && r.resourceGroup.toLowerCase() !== resourceGroup) continue;
    // Role assignments are extension resources: ARM lists them on their scope, not among a group's resources.
    if (r.type === "Microsoft.Authorization/roleAssignments" && type !== r.type.toLowerCase()) continue;
    counts[r.type] = (counts[r.type] ?? 0) + 1;
    if (type && r.type.toLowerCase() !== type) continue;
    resources.push({
      id: r.id,
      type: r.type,
      location: r.location,
      ...(r.tags ? { tags: r.tags } : {}),
      provisioningState: provisioningStateOf(store, r),
    });
  }
  const resourceGroups = [...store.groups.values()]
    .filter((g) => !subscriptionId || g.subscriptionId.toLowerCase() === subscriptionId)
    .map((g) => ({
      subscriptionId: g.subscriptionId,
      name: g.name,
      location: g.location,
      ...(g.managedBy ? { managedBy: g.managedBy } : {}),
    }));
  return { counts, resources, resourceGroups };
}

function viewOf(store: Store, r: StoredResource): unknown {
  switch (r.type) {
    case "Microsoft.Compute/galleries/images/versions":
      return imageVersionView(store, r, { expandReplication: true });
    case "Microsoft.Compute/images":
      return managedImageView(store, r);
    case "Microsoft.VirtualMachineImages/imageTemplates":
      return templateView(store, r);
    case virtualMachineType:
    case scaleSetType:
    case scaleSetInstanceType:
      return fleetView(store, r);
    default:
      return {
        id: r.id,
        type: r.type,
        location: r.location,
        ...(r.tags ? { tags: r.tags } : {}),
        properties: r.properties,
      };
  }
}

/** Handles `/_emulator/...`; admin calls are not authenticated, counted, throttled or faulted. */
export function handleAdmin(deps: AdminDeps, method: string, url: URL, body: unknown): Reply {
  const { store } = deps;
  const path = url.pathname.replace(/\/+$/, "").toLowerCase();
  const key = `${method} ${path}`;
  switch (key) {
    case "GET /_emulator/health":
      return { status: 200, body: { status: "ok", nowMs: store.now(), resources: store.resources.size } };
    case "GET /_emulator/config":
      return { status: 200, body: store.config };
    case "PUT /_emulator/config":
    case "PATCH /_emulator/config":
      // A new Resource Graph quota starts with a fresh window.
      if (asObject(body)["resourceGraph"] !== undefined) deps.resourceGraphQuota.reset();
      return { status: 200, body: updateConfig(deps, body) };
    case "GET /_emulator/throttling":
      return { status: 200, body: store.config.throttling };
    case "PUT /_emulator/throttling": {
      deps.throttler.reset();
      return { status: 200, body: updateConfig(deps, { throttling: body }).throttling };
    }
    case "GET /_emulator/faults":
      return { status: 200, body: { ...store.config.faults, scripted: deps.faults.scripts } };
    case "PUT /_emulator/faults": {
      const b = asObject(body);
      const { scripted, ...rest } = b;
      if (scripted !== undefined) deps.faults.scripts = parse(z.array(faultScriptSchema), scripted);
      const faults = updateConfig(deps, { faults: rest }).faults;
      return { status: 200, body: { ...faults, scripted: deps.faults.scripts } };
    }
    case "GET /_emulator/counters":
      return { status: 200, body: deps.counters.snapshot() };
    case "POST /_emulator/counters/reset":
      deps.counters.reset();
      return { status: 200, body: deps.counters.snapshot() };
    case "GET /_emulator/rules":
      return { status: 200, body: { versions: store.versionRules, templates: store.templateRules } };
    case "DELETE /_emulator/rules":
      store.versionRules = [];
      store.templateRules = [];
      store.changed();
      return { status: 200, body: { versions: [], templates: [] } };
    case "POST /_emulator/rules/versions": {
      const rule = parse(versionRuleSchema, body);
      const entry = {
        id: randomUUID(),
        rule,
        remainingFailures: rule.failRegion && (rule.recovery ?? "retry") === "retry" ? (rule.failTimes ?? 1) : 0,
      };
      store.versionRules.push(entry);
      store.changed();
      return { status: 201, body: entry };
    }
    case "POST /_emulator/rules/templates": {
      const rule = parse(templateRuleSchema, body);
      const entry = {
        id: randomUUID(),
        rule,
        remainingFailures: rule.failAt || rule.failDistribution !== undefined ? (rule.failTimes ?? 1) : 0,
      };
      store.templateRules.push(entry);
      store.changed();
      return { status: 201, body: entry };
    }
    case "GET /_emulator/platform-images":
      return {
        status: 200,
        body: { images: store.effectivePlatformImages(), isDefault: store.platformImages === null },
      };
    case "PUT /_emulator/platform-images": {
      const b = asObject(body);
      const sets = parse(z.array(platformImageSetSchema), Array.isArray(b["images"]) ? b["images"] : [body]);
      const current = b["replace"] === true ? [] : [...store.effectivePlatformImages()];
      for (const set of sets) {
        const same = (x: typeof set) =>
          (x.location ?? "").toLowerCase() === (set.location ?? "").toLowerCase() &&
          x.publisher.toLowerCase() === set.publisher.toLowerCase() &&
          x.offer.toLowerCase() === set.offer.toLowerCase() &&
          x.sku.toLowerCase() === set.sku.toLowerCase();
        const index = current.findIndex(same);
        // Properties a set leaves out keep their values (adding a version keeps the SKU's generation and features).
        const given = Object.fromEntries(Object.entries(set).filter(([, v]) => v !== undefined)) as typeof set;
        if (index >= 0) current[index] = { ...current[index]!, ...given };
        else current.push(set);
      }
      store.platformImages = current;
      store.changed();
      return { status: 200, body: { images: current, isDefault: false } };
    }
    case "DELETE /_emulator/platform-images":
      store.platformImages = null;
      store.changed();
      return { status: 200, body: { images: store.effectivePlatformImages(), isDefault: true } };
    case "POST /_emulator/seed":
      return { status: 200, body: { created: seed(store, parse(seedSchema, body)) } };
    case "GET /_emulator/resources":
      return { status: 200, body: listResources(store, url) };
    case "GET /_emulator/resource": {
      const id = url.searchParams.get("id") ?? "";
      const r = store.get(id);
      if (!r) throw new ArmError(404, "ResourceNotFound", `No resource '${id}'.`);
      return { status: 200, body: viewOf(store, r) };
    }
    case "GET /_emulator/latest": {
      const definition = url.searchParams.get("imageDefinitionId") ?? "";
      if (!store.get(definition)) throw new ArmError(404, "ResourceNotFound", `No image definition '${definition}'.`);
      const region = url.searchParams.get("region") ?? undefined;
      const latest = resolveLatest(store, definition, region);
      return {
        status: 200,
        body: {
          imageDefinitionId: definition,
          region: region ?? null,
          version: latest?.name ?? null,
          id: latest?.id ?? null,
        },
      };
    }
    case "GET /_emulator/blob": {
      const uri = url.searchParams.get("uri") ?? "";
      const blob = store.getBlob(uri);
      if (!blob) throw new ArmError(404, "BlobNotFound", `The specified blob does not exist: '${uri}'.`);
      return { status: 200, text: blob.text, contentType: blob.contentType };
    }
    case "GET /_emulator/blobs": {
      const resourceGroup = url.searchParams.get("resourceGroup")?.toLowerCase();
      const blobs = [...store.blobs.values()]
        .filter((b) => !resourceGroup || b.resourceGroup.toLowerCase() === resourceGroup)
        .map((b) => ({ uri: b.uri, resourceGroup: b.resourceGroup, createdAt: isoTime(b.createdAtMs) }));
      return { status: 200, body: { blobs } };
    }
    case "GET /_emulator/clock":
      return { status: 200, body: { nowMs: store.now(), now: isoTime(store.now()), offsetMs: store.clockOffsetMs } };
    case "POST /_emulator/clock": {
      const b = parse(
        z.object({ advanceByMs: z.number().int().min(0).optional(), offsetMs: z.number().int().optional() }),
        body,
      );
      if (b.offsetMs !== undefined) store.clockOffsetMs = b.offsetMs;
      if (b.advanceByMs !== undefined) store.clockOffsetMs += b.advanceByMs;
      store.changed();
      return { status: 200, body: { nowMs: store.now(), now: isoTime(store.now()), offsetMs: store.clockOffsetMs } };
    }
    case "POST /_emulator/reset":
      store.reset();
      deps.counters.reset();
      deps.throttler.reset();
      deps.resourceGraphQuota.reset();
      deps.faults.scripts = [];
      return { status: 200, body: { status: "reset" } };
    default:
      throw new ArmError(404, "NotFound", `No admin endpoint ${method} ${url.pathname}. See local/arm/README.md.`);
  }
}
