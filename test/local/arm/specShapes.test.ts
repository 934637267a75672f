import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GalleryImageVersion, GalleryImageVersionUpdate } from "@azure/arm-compute";
import type { ImageTemplate } from "@azure/arm-imagebuilder";
import {
  fastConfig,
  linuxDefinition,
  managedImageId,
  poll,
  startHarness,
  subscriptionId,
  type Harness,
} from "./helpers.js";

interface Captured {
  status: number;
  header: (name: string) => string | undefined;
  body: unknown;
}

interface Fixture {
  operationId: string;
  request?: Record<string, unknown>;
  response?: unknown;
  statuses?: number[];
}

const fixturesDir = path.join(import.meta.dirname, "../../fixtures/arm");
function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(path.join(fixturesDir, `${name}.json`), "utf8")) as Fixture;
}

function typeOf(value: unknown): string {
  return Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
}

/** Property paths and JSON types, arrays collapsed to `[]`; dynamic-key maps (tags, identities) collapsed to `{}`. */
function shape(value: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  out.set(prefix || "$", typeOf(value));
  if (Array.isArray(value)) {
    for (const item of value) shape(item, `${prefix}[]`, out);
  } else if (typeof value === "object" && value !== null) {
    const dynamic = /(^|\.)(tags|artifactTags|userAssignedIdentities)$/.test(prefix);
    for (const [key, child] of Object.entries(value))
      shape(child, `${prefix}${prefix ? "." : ""}${dynamic ? "{}" : key}`, out);
  }
  return out;
}

/**
 * Every path the spec example has must exist in the emulator's answer with the same JSON type, except where recorded
 * answers (cli-recordings, which win over examples) differ: no `dataDiskImages` when the source has no data disk, no
 * per-region `excludeFromLatest` unless it was set.
 */
function expectSameShape(actual: unknown, example: unknown): void {
  const recordedDifferently = /dataDiskImages|targetRegions\[\]\.excludeFromLatest/;
  const want = new Map([...shape(example)].filter(([p]) => !recordedDifferently.test(p) || shape(actual).has(p)));
  const got = shape(actual);
  const missing = [...want]
    .filter(([p, t]) => got.get(p) !== t)
    .map(([p, t]) => `${p}: ${t} (got ${got.get(p) ?? "nothing"})`);
  expect(missing).toEqual([]);
}

/** Wire-level request body (`properties` envelope) to the flattened model the SDK takes. */
function flatten(request: Record<string, unknown>): Record<string, unknown> {
  const { properties, ...rest } = request;
  return { ...rest, ...(properties as Record<string, unknown>) };
}

function withDates(model: Record<string, unknown>): Record<string, unknown> {
  const profile = model["publishingProfile"] as Record<string, unknown> | undefined;
  if (profile?.["endOfLifeDate"]) profile["endOfLifeDate"] = new Date(String(profile["endOfLifeDate"]));
  return model;
}

describe("the ARM emulator answers with the wire shapes of the spec examples", () => {
  let h: Harness;
  let raw: Captured | undefined;
  const capture = {
    onResponse: (r: unknown) => {
      const response = r as {
        status: number;
        headers: { get(name: string): string | undefined };
        bodyAsText?: string | null;
      };
      raw ??= {
        status: response.status,
        header: (name) => response.headers.get(name),
        body: response.bodyAsText ? (JSON.parse(response.bodyAsText) as unknown) : undefined,
      };
    },
  };
  const take = () => {
    const r = raw;
    raw = undefined;
    return r;
  };
  const rg = "rg-shapes";

  beforeAll(async () => {
    h = await startHarness();
    await h.admin("PUT", "config", { ...fastConfig, pageSize: 1 });
    await h.resourceGroup(rg, "westus");
    await h.identity(rg, "aib", "westus");
    await h.compute.images.createOrUpdate(
      rg,
      "src",
      {
        location: "westus",
        hyperVGeneration: "V2",
        storageProfile: { osDisk: { osType: "Linux", osState: "Generalized" } },
      },
      poll,
    );
    // What the Image Builder example refers to: its identity, and the virtual network its identity may use.
    await h.resourceGroup("rg1", "westus");
    const identity = await h.identity("rg1", "identity_1", "westus");
    await h.admin("POST", "seed", {
      subscriptionId,
      resources: [
        {
          id: `/subscriptions/${subscriptionId}/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/vnet_name`,
          location: "westus",
        },
      ],
      roleAssignments: [
        {
          scope: `/subscriptions/${subscriptionId}/resourceGroups/rg1`,
          roleDefinitionId: `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c`,
          principalId: identity.principalId,
        },
      ],
    });
    await h.compute.galleries.createOrUpdate(rg, "g", { location: "westus" }, poll);
    await h.compute.galleryImages.createOrUpdate(rg, "g", "i", { ...linuxDefinition, location: "westus" }, poll);
  });
  afterAll(async () => h.stop());

  it("GalleryImageVersions: create, get, list, update, delete", async () => {
    const create = fixture("galleryImageVersion.create");
    const body = JSON.parse(
      JSON.stringify(create.request).replace("MANAGED_IMAGE_ID", managedImageId(rg, "src")),
    ) as Record<string, unknown>;
    await h.compute.galleryImageVersions.createOrUpdate(
      rg,
      "g",
      "i",
      "1.0.0",
      flatten(body) as unknown as GalleryImageVersion,
      {
        ...poll,
        ...capture,
      },
    );
    const created = take();
    expect(created?.status).toBe(201);
    expect(created?.header("azure-asyncoperation")).toMatch(
      new RegExp(
        `^${h.emulator.endpoint}/subscriptions/${subscriptionId}/providers/Microsoft.Compute/locations/westus/capsOperations/`,
      ),
    );
    // Recorded create answers (cli-recordings/test_create_image_version_with_allow_replicated_location_deletion)
    // carry no osDiskImage/dataDiskImages yet; where example and recording differ, the recording wins.
    const createResponse = JSON.parse(JSON.stringify(create.response)) as {
      properties: { storageProfile: Record<string, unknown> };
    };
    delete createResponse.properties.storageProfile["osDiskImage"];
    delete createResponse.properties.storageProfile["dataDiskImages"];
    expectSameShape(created?.body, createResponse);
    expect((created?.body as { id: string }).id).toBe(
      `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0`,
    );

    await h.compute.galleryImageVersions.get(rg, "g", "i", "1.0.0", { expand: "ReplicationStatus", ...capture });
    expectSameShape(take()?.body, fixture("galleryImageVersion.get").response);

    await h.compute.galleryImageVersions.createOrUpdate(
      rg,
      "g",
      "i",
      "1.0.1",
      flatten(body) as unknown as GalleryImageVersion,
      poll,
    );
    const pages = h.compute.galleryImageVersions.listByGalleryImage(rg, "g", "i", capture).byPage();
    await pages.next();
    const listed = take();
    expectSameShape(listed?.body, fixture("galleryImageVersion.list").response);
    expect((listed?.body as { nextLink: string }).nextLink.startsWith(h.emulator.endpoint)).toBe(true);

    const update = fixture("galleryImageVersion.update");
    await h.compute.galleryImageVersions.update(
      rg,
      "g",
      "i",
      "1.0.0",
      withDates(flatten(update.request!)) as GalleryImageVersionUpdate,
      { ...poll, ...capture },
    );
    const updated = take();
    expect(updated?.status).toBe(200);
    expectSameShape(updated?.body, update.response);

    await h.compute.galleryImageVersions.delete(rg, "g", "i", "1.0.1", { ...poll, ...capture });
    const deleted = take();
    expect(deleted?.status).toBe(202);
    expect(deleted?.header("location")).toBeDefined();
    expect(deleted?.header("azure-asyncoperation")).toBeDefined();
  });

  it("ImageTemplates: create, get, list, update, run outputs, delete", async () => {
    const create = fixture("imageTemplate.create");
    create.request = JSON.parse(
      JSON.stringify(create.request).replaceAll("/subscriptions/s/", `/subscriptions/${subscriptionId}/`),
    ) as Record<string, unknown>;
    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(
      rg,
      "t1",
      flatten(create.request!) as unknown as ImageTemplate,
      { ...poll, ...capture },
    );
    const created = take();
    expect(created?.status).toBe(201);
    expect(created?.header("azure-asyncoperation")).toMatch(
      new RegExp(
        `^${h.emulator.endpoint}/subscriptions/${subscriptionId}/providers/Microsoft.VirtualMachineImages/locations/westus/operations/`,
      ),
    );
    expectSameShape(created?.body, create.response);

    await h.imageBuilder.virtualMachineImageTemplates.get(rg, "t1", capture);
    expectSameShape(take()?.body, fixture("imageTemplate.get").response);

    await h.imageBuilder.virtualMachineImageTemplates.createOrUpdate(
      rg,
      "t2",
      flatten(create.request!) as unknown as ImageTemplate,
      poll,
    );
    await h.imageBuilder.virtualMachineImageTemplates.listByResourceGroup(rg, capture).byPage().next();
    expectSameShape(take()?.body, fixture("imageTemplate.list").response);

    const update = fixture("imageTemplate.update");
    await h.imageBuilder.virtualMachineImageTemplates.update(rg, "t1", update.request!, { ...poll, ...capture });
    expect(take()?.status).toBe(202);
    await h.imageBuilder.virtualMachineImageTemplates.get(rg, "t1", capture);
    expectSameShape(take()?.body, update.response);

    await h.compute.images.createOrUpdate(
      "rg1",
      "source_image",
      {
        location: "westus",
        hyperVGeneration: "V2",
        storageProfile: { osDisk: { osType: "Linux", osState: "Generalized" } },
      },
      poll,
    );
    await h.imageBuilder.virtualMachineImageTemplates.run(rg, "t1", poll);
    await h.imageBuilder.virtualMachineImageTemplates.listRunOutputs(rg, "t1", capture).byPage().next();
    expectSameShape(take()?.body, fixture("imageTemplate.runOutputs").response);

    const del = fixture("imageTemplate.delete");
    await h.imageBuilder.virtualMachineImageTemplates.delete(rg, "t1", { ...poll, ...capture });
    const deleted = take();
    expect(del.statuses).toContain(deleted?.status);
    expect(deleted?.header("location")).toMatch(new RegExp(`^${h.emulator.endpoint}/`));
  });
});
