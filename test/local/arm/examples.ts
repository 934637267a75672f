import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fastConfig, subscriptionId, type Harness } from "./helpers.js";
import { samplesDir } from "./replay.js";

/**
 * Replays the request/response examples of `Azure/azure-rest-api-specs` (`../shared/azure-samples/spec-examples`)
 * against the ARM emulator: the world each example presumes (resource group, parents, sources, identities, the
 * resource itself for reads and updates) is built through the emulator's own API first, then the example's request
 * is sent and the answer compared with the example's: a status the example documents, the headers it shows for that
 * status, and every property path of its body with the same JSON type. Values are not compared (examples use
 * placeholders); where an example and a recording of real traffic disagree, the recording wins (see `recordedOtherwise`).
 */

export const examplesDir = path.join(samplesDir, "spec-examples");

export interface SpecExample {
  /** `family/Name.json` under spec-examples. */
  file: string;
  name: string;
  parameters: Record<string, unknown>;
  responses: Record<string, { body?: unknown; headers?: Record<string, string> }>;
}

export function exampleFiles(): string[] {
  if (!existsSync(examplesDir)) return [];
  return readdirSync(examplesDir)
    .flatMap((family) => readdirSync(path.join(examplesDir, family)).map((f) => `${family}/${f}`))
    .filter((f) => f.endsWith(".json"))
    .sort();
}

export function loadExample(file: string): SpecExample {
  const doc = JSON.parse(readFileSync(path.join(examplesDir, file), "utf8")) as Omit<SpecExample, "file" | "name">;
  return { ...doc, file, name: path.basename(file, ".json") };
}

/**
 * Examples whose answer needs a feature the emulator does not model: they are not replayed, and each says why.
 * Everything else is replayed and must match.
 */
export const notModelled: Record<string, string> = {
  CommunityGallery_Create: "community galleries (sharingProfile permissions Community)",
  CommunityGallery_Get: "community galleries (sharingProfile, sharingStatus)",
  Gallery_Create_SoftDeletionEnabled: "gallery soft delete (softDeletePolicy)",
  Gallery_Create_WithManagedIdentity: "gallery managed identities",
  Gallery_Create_WithSharingProfile: "gallery sharing (sharingProfile)",
  Gallery_Get_WithExpandSharingProfileGroups: "gallery sharing (sharingProfile groups)",
  Gallery_Get_WithManagedIdentity: "gallery managed identities",
  Gallery_Get_WithSelectPermissions: "gallery sharing ($select=Permissions)",
  GalleryImageVersion_Create_WithAdditionalReplicaSets: "additionalReplicaSets (PremiumV2 replicas)",
  GalleryImageVersion_Create_WithCommunityImageVersionAsSource: "community gallery images as sources",
  GalleryImageVersion_Create_WithStorageAccountStrategy: "publishingProfile.storageAccountStrategy",
  GalleryImageVersion_Create_WithTargetExtendedLocations: "edge zones (targetExtendedLocations)",
  GalleryImageVersion_Create_WithVHD: "VHD blob sources (storage account blobs are not modelled)",
  GalleryImageVersion_Create_WithVHD_UefiSettings: "VHD blob sources and securityProfile.uefiSettings",
  GalleryImageVersion_Get_WithVhdAsSource: "VHD blob sources",
  GalleryImageVersion_Get_WithValidationProfile: "image validations (validationsProfile)",
  GalleryImageVersion_Get_WithValidationProfileAndReplicationStatus: "image validations (validationsProfile)",
  GalleryImageVersion_Update_RestoreSoftDeleted: "gallery soft delete (restore)",
  VirtualMachineImage_Get_MaximumSet_Gen:
    "marketplace plans, edge zones (extendedLocation) and tags of platform images",
  VirtualMachineImage_List_MaximumSet_Gen: "edge zones (extendedLocation) and tags of platform images",
};

/**
 * Paths of an example's body that recorded real traffic (../shared/azure-samples/cli-recordings) shows Azure leaving
 * out, or that only a situation the emulator never produces would fill: not required of the emulator's answer.
 */
function recordedOtherwise(example: SpecExample, method: string): RegExp[] {
  const rules: RegExp[] = [
    // Azure flags images for policy violations itself; no recording shows it.
    /safetyProfile\.policyViolations/,
  ];
  const body = (Object.values(example.parameters).find((v) => typeof v === "object") ?? {}) as {
    properties?: { storageProfile?: Record<string, unknown> };
  };
  const request = JSON.stringify(body);
  const storageProfile = body.properties?.storageProfile ?? {};
  if (method === "PUT" && /GalleryImageVersion/.test(example.name)) {
    // test_gallery_e2e, test_create_image_version_with_allow_replicated_location_deletion: the create answer has no
    // osDiskImage/dataDiskImages unless the request named them, and no sizes.
    rules.push(/storageProfile\.(osDiskImage|dataDiskImages)(\[\])?\.sizeInGB$/);
    if (storageProfile["osDiskImage"] === undefined) rules.push(/storageProfile\.osDiskImage\b/);
    if (storageProfile["dataDiskImages"] === undefined) rules.push(/storageProfile\.dataDiskImages\b/);
  }
  if (method === "PATCH" && /GalleryImageVersion/.test(example.name)) {
    // The example's answer shows per-region encryption and excludeFromLatest its request's targetRegions do not set;
    // the emulator answers the regions as the update names them (test_gallery_e2e: per-region excludeFromLatest only
    // when set). What Azure does with an omitted per-region setting on update is not documented.
    rules.push(/targetRegions\[\]\.(encryption|excludeFromLatest)\b/);
  }
  if (method === "PUT" && example.file.startsWith("imagebuilder/")) {
    // test_image_build_identity: the identity's principal and client ids appear once the template has provisioned.
    rules.push(/userAssignedIdentities\.\{\}\.(principalId|clientId)$/);
  }
  if (method === "PUT" && example.name.startsWith("Image_")) {
    // test_image_build_managed_image: a created managed image reports no diskSizeGB the request did not name;
    // test_create_image_version_with_allow_replicated_location_deletion, test_image_build_managed_image: one made
    // from a virtual machine reports no zoneResilient.
    rules.push(/osDisk\.diskSizeGB$/);
    if (request.includes('"sourceVirtualMachine"')) rules.push(/storageProfile\.zoneResilient$/);
  }
  return rules;
}

// ---------------------------------------------------------------- shapes

function typeOf(value: unknown): string {
  return Array.isArray(value) ? "array" : value === null ? "null" : typeof value;
}

/** Property paths and JSON types, arrays collapsed to `[]`, dynamic-key maps (tags, identities) to `{}`. */
export function shapeOf(value: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  out.set(prefix || "$", typeOf(value));
  if (Array.isArray(value)) {
    for (const item of value) shapeOf(item, `${prefix}[]`, out);
  } else if (typeof value === "object" && value !== null) {
    const dynamic = /(^|\.)(tags|artifactTags|userAssignedIdentities)$/.test(prefix);
    for (const [key, child] of Object.entries(value))
      shapeOf(child, `${prefix}${prefix ? "." : ""}${dynamic ? "{}" : key}`, out);
  }
  return out;
}

// ---------------------------------------------------------------- placeholders

const rg = "myResourceGroup";
const sub = `/subscriptions/${subscriptionId}`;
const here = "westus";

const placeholders: Record<string, string> = {
  "subscription-id": subscriptionId,
  subscriptionId,
  resourceGroup: rg,
  imageName: "mySourceImage",
  galleryName: "mySourceGallery",
  imageDefinitionName: "mySourceDefinition",
  versionName: "1.0.0",
  osSnapshotName: "myOsSnapshot",
  snapshotName: "myOsSnapshot",
  diskSnapshotName: "myDataSnapshot",
  dataDiskName: "myDataDisk",
  vmName: "myVM",
  storageAccount: "mystorageaccount",
  "existing-diskEncryptionSet-name": "myDiskEncryptionSet",
  updated_vmsize: "Standard_D4s_v3",
  updated_aci_subnet: `${sub}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/vnetname/subnets/aci`,
};

/** The example with its placeholders (`{subscription-id}`, `{imageName}`, ...) and example subscription filled in. */
function fill<T>(value: T): T {
  const text = JSON.stringify(value)
    .replace(/\{([\w-]+)\}/g, (_, name: string) => placeholders[name] ?? name)
    .replaceAll("/subscriptions/00000000-0000-0000-0000-000000000000/", `${sub}/`)
    // ListImageTemplatesByRg's gallery id misspells the resource type.
    .replaceAll("/Microsoft.Compute/gallery/", "/Microsoft.Compute/galleries/");
  return JSON.parse(text) as T;
}

// ---------------------------------------------------------------- operations

type Kind = "gallery" | "galleryImage" | "version" | "image" | "platform" | "template";
type Action = "create" | "get" | "list" | "update" | "delete" | "run" | "cancel" | "runOutputs" | "runOutput";

interface Operation {
  kind: Kind;
  action: Action;
  method: "GET" | "PUT" | "PATCH" | "DELETE" | "POST";
  path: string;
  query: string;
  body?: Record<string, unknown>;
}

const templateOperations: Record<string, Action> = {
  CancelImageBuild: "cancel",
  CreateImageTemplateLinux: "create",
  CreateImageTemplateWindows: "create",
  DeleteImageTemplate: "delete",
  GetImageTemplate: "get",
  GetRunOutput: "runOutput",
  ListImageTemplates: "list",
  ListImageTemplatesByRg: "list",
  ListRunOutputs: "runOutputs",
  RunImageTemplate: "run",
  UpdateImageTemplateTags: "update",
  UpdateImageTemplateToRemoveIdentities: "update",
  UpdateImageTemplateVmProfile: "update",
};

function actionOf(verb: string): Action {
  if (verb.startsWith("Create")) return "create";
  if (verb.startsWith("List")) return "list";
  if (verb.startsWith("Update")) return "update";
  if (verb.startsWith("Delete")) return "delete";
  return "get";
}

const methods: Record<Action, Operation["method"]> = {
  create: "PUT",
  get: "GET",
  list: "GET",
  update: "PATCH",
  delete: "DELETE",
  run: "POST",
  cancel: "POST",
  runOutputs: "GET",
  runOutput: "GET",
};

export function operationOf(example: SpecExample): Operation {
  const p = example.parameters as Record<string, string>;
  const [prefix, verb = ""] = example.name.split("_");
  let kind: Kind;
  let action: Action;
  if (example.file.startsWith("imagebuilder/")) {
    kind = "template";
    action = templateOperations[example.name]!;
  } else if (prefix === "VirtualMachineImage") {
    kind = "platform";
    action = actionOf(verb);
  } else if (prefix === "Image" || prefix === "Images") {
    kind = "image";
    action = actionOf(verb);
  } else {
    kind = { Gallery: "gallery", CommunityGallery: "gallery", GalleryImage: "galleryImage" }[prefix!] as Kind;
    kind ??= "version";
    action = actionOf(verb);
  }
  const group = `${sub}/resourceGroups/${p["resourceGroupName"]}`;
  const gallery = `${group}/providers/Microsoft.Compute/galleries/${p["galleryName"]}`;
  const definition = `${gallery}/images/${p["galleryImageName"]}`;
  const template = `${group}/providers/Microsoft.VirtualMachineImages/imageTemplates/${p["imageTemplateName"]}`;
  const byGroup = p["resourceGroupName"] !== undefined;
  const paths: Record<Kind, string> = {
    gallery: action === "list" ? `${byGroup ? group : sub}/providers/Microsoft.Compute/galleries` : `${gallery}`,
    galleryImage: action === "list" ? `${gallery}/images` : definition,
    version: action === "list" ? `${definition}/versions` : `${definition}/versions/${p["galleryImageVersionName"]}`,
    image:
      action === "list"
        ? `${byGroup ? group : sub}/providers/Microsoft.Compute/images`
        : `${group}/providers/Microsoft.Compute/images/${p["imageName"]}`,
    platform:
      `${sub}/providers/Microsoft.Compute/locations/${p["location"]}/publishers/${p["publisherName"]}` +
      `/artifacttypes/vmimage/offers/${p["offer"]}/skus/${p["skus"]}/versions` +
      (action === "get" ? `/${p["version"]}` : ""),
    template:
      {
        list: `${byGroup ? group : sub}/providers/Microsoft.VirtualMachineImages/imageTemplates`,
        run: `${template}/run`,
        cancel: `${template}/cancel`,
        runOutputs: `${template}/runOutputs`,
        runOutput: `${template}/runOutputs/${p["runOutputName"]}`,
      }[action as string] ?? template,
  };
  const query = new URLSearchParams({ "api-version": p["api-version"] ?? p["version"]! });
  for (const [k, v] of Object.entries(p)) if (k.startsWith("$")) query.set(k, String(v));
  const bodyParam = Object.values(example.parameters).find((v) => typeof v === "object" && v !== null);
  return {
    kind,
    action,
    method: methods[action],
    path: paths[kind],
    query: query.toString(),
    body: bodyParam ? fill(bodyParam as Record<string, unknown>) : undefined,
  };
}

// ---------------------------------------------------------------- the world an example presumes

const contributor = `${sub}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c`;

class World {
  private readonly groups = new Set<string>();
  constructor(
    private readonly h: Harness,
    private readonly apiVersion: string,
    /** The OS of sources: Windows for the gallery examples' Windows definitions, as customizers say for templates. */
    private osType: "Linux" | "Windows",
  ) {}

  async call(method: Operation["method"], armPath: string, body?: unknown, apiVersion = this.apiVersion) {
    const separator = armPath.includes("?") ? "&" : "?";
    const response = await this.h.raw(method, `${armPath}${separator}api-version=${apiVersion}`, {
      token: "examples",
      body,
    });
    if (response.status >= 300)
      throw new Error(`arranging ${method} ${armPath}: ${response.status} ${JSON.stringify(response.body)}`);
    await this.h.admin("POST", "clock", { advanceByMs: 60_000 });
    return response.body as Record<string, unknown>;
  }

  async group(name: string | undefined): Promise<void> {
    if (name === undefined) return;
    if (this.groups.has(name.toLowerCase())) return;
    this.groups.add(name.toLowerCase());
    await this.h.resourceGroup(name, here);
  }

  async seed(id: string, properties: Record<string, unknown> = {}): Promise<void> {
    await this.group(groupOf(id));
    await this.h.admin("POST", "seed", { subscriptionId, resources: [{ id, location: here, properties }] });
  }

  async identity(id: string): Promise<void> {
    await this.group(groupOf(id));
    const body = await this.call("PUT", id, { location: here }, "2023-01-31");
    const principalId = (body["properties"] as { principalId: string }).principalId;
    await this.h.admin("POST", "seed", {
      subscriptionId,
      roleAssignments: [{ scope: sub, roleDefinitionId: contributor, principalId }],
    });
  }

  async gallery(id: string, properties: Record<string, unknown> = {}): Promise<void> {
    await this.group(groupOf(id));
    await this.call("PUT", id, { location: here, properties }, "2025-03-03");
  }

  async definition(id: string, properties?: Record<string, unknown>): Promise<void> {
    await this.gallery(id.replace(/\/images\/[^/]+$/i, ""));
    await this.call(
      "PUT",
      id,
      {
        location: here,
        properties: properties ?? {
          osType: "Windows",
          osState: "Generalized",
          hyperVGeneration: "V1",
          identifier: { publisher: "myPublisherName", offer: "myOfferName", sku: nameOf(id) },
        },
      },
      "2025-03-03",
    );
  }

  /** A generalized Windows Gen1 managed image with a 10 GiB data disk at LUN 1 (what the examples' versions show). */
  async managedImage(id: string): Promise<void> {
    await this.group(groupOf(id));
    await this.call(
      "PUT",
      id,
      {
        location: here,
        properties: {
          hyperVGeneration: "V1",
          storageProfile: {
            osDisk: { osType: this.osType, osState: "Generalized", diskSizeGB: 10 },
            dataDisks: [{ lun: 1, diskSizeGB: 10 }],
          },
        },
      },
      "2025-04-01",
    );
  }

  async version(id: string, body?: Record<string, unknown>): Promise<void> {
    await this.definition(id.replace(/\/versions\/[^/]+$/i, ""));
    const request = body ?? {
      location: here,
      properties: {
        publishingProfile: { targetRegions: [{ name: here }] },
        storageProfile: {
          source: { id: `${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/images/mySourceImage` },
        },
      },
    };
    await this.references(request);
    await this.call("PUT", id, request, "2025-03-03");
  }

  /** Everything a request body refers to, made to exist (distribution targets excepted). */
  async references(body: unknown, where = ""): Promise<void> {
    if (Array.isArray(body)) {
      for (const item of body) await this.references(item, `${where}[]`);
      return;
    }
    if (typeof body !== "object" || body === null) return;
    const object = body as Record<string, unknown>;
    if (Array.isArray(object["customize"]))
      this.osType = (object["customize"] as { type?: string }[]).some((c) => /^(PowerShell|Windows)/.test(c.type ?? ""))
        ? "Windows"
        : "Linux";
    if (object["type"] === "PlatformImage") {
      await this.h.admin("PUT", "platform-images", {
        images: [
          {
            publisher: object["publisher"],
            offer: object["offer"],
            sku: object["sku"],
            versions: [object["version"] === "latest" ? "1.0.0" : object["version"]],
            osType: this.osType,
          },
        ],
      });
    }
    for (const [key, value] of Object.entries(body)) {
      const at = `${where}.${key}`;
      if (key === "userAssignedIdentities") {
        for (const id of Object.keys(value as object)) await this.identity(id);
        continue;
      }
      if (typeof value === "string" && /^\/?subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\//i.test(value)) {
        await this.reference(value.startsWith("/") ? value : `/${value}`, at);
        continue;
      }
      await this.references(value, at);
    }
  }

  private async reference(id: string, at: string): Promise<void> {
    const type = typeOf2(id);
    if (
      /\.distribute\[\]/.test(at) ||
      (/\.id$/.test(at) && !/source|sourceVirtualMachine|managedDisk|snapshot/i.test(at))
    ) {
      // A distribution target or the resource's own id: only its resource group has to exist.
      await this.group(groupOf(id));
      if (type === "Microsoft.Compute/galleries/images/versions" && /\.distribute\[\]/.test(at))
        await this.definition(id.replace(/\/versions\/[^/]+$/i, ""));
      if (type === "Microsoft.Compute/galleries/images" && /\.distribute\[\]/.test(at)) await this.definition(id);
      return;
    }
    switch (type) {
      case "Microsoft.Compute/images":
        return this.managedImage(id);
      case "Microsoft.Compute/galleries/images/versions":
        return this.version(id);
      case "Microsoft.Compute/virtualMachines":
        return this.seed(id, {
          hyperVGeneration: "V1",
          storageProfile: {
            osDisk: {
              osType: "Windows",
              diskSizeGB: 10,
              managedDisk: { id: `${id}_OsDisk_1`.replace(/virtualMachines/i, "disks") },
            },
          },
          instanceView: { hyperVGeneration: "V1", statuses: [{ code: "OSState/generalized" }] },
        });
      case "Microsoft.Compute/disks":
      case "Microsoft.Compute/snapshots":
        return this.seed(
          id,
          /dataDisk/i.test(at) ? { diskSizeGB: 10 } : { osType: "Windows", hyperVGeneration: "V1", diskSizeGB: 10 },
        );
      case "Microsoft.Network/virtualNetworks/subnets":
        return this.seed(id.replace(/\/subnets\/[^/]+$/i, ""), {});
      default:
        return this.seed(id, {});
    }
  }
}

function groupOf(id: string): string | undefined {
  return /\/resourceGroups\/([^/]+)/i.exec(id)?.[1];
}
function nameOf(id: string): string {
  return id.split("/").pop()!;
}
/** `Microsoft.Compute/galleries/images/versions` for a version id. */
function typeOf2(id: string): string {
  const rest = id
    .split(/\/providers\//i)
    .pop()!
    .split("/");
  return [rest[0], ...rest.slice(1).filter((_, i) => i % 2 === 0)].join("/");
}

/** A resource's answer turned back into the request that makes it: read-only properties left out. */
function requestFrom(answer: Record<string, unknown>): Record<string, unknown> {
  const clone = JSON.parse(JSON.stringify(answer)) as Record<string, unknown>;
  for (const key of ["id", "name", "type", "systemData"]) delete clone[key];
  const props = (clone["properties"] ?? {}) as Record<string, unknown>;
  for (const key of [
    "provisioningState",
    "provisioningError",
    "lastRunStatus",
    "exactStagingResourceGroup",
    "replicationStatus",
    "validationsProfile",
    "identifier",
  ])
    if (key !== "identifier" || typeof (props["identifier"] as { uniqueName?: string })?.uniqueName === "string")
      delete props[key];
  const publishing = props["publishingProfile"] as Record<string, unknown> | undefined;
  if (publishing) for (const key of ["publishedDate", "replicaCount", "storageAccountType"]) delete publishing[key];
  const safety = props["safetyProfile"] as Record<string, unknown> | undefined;
  if (safety) for (const key of ["policyViolations", "reportedForPolicyViolation"]) delete safety[key];
  const storage = props["storageProfile"] as Record<string, unknown> | undefined;
  for (const disk of [storage?.["osDiskImage"], ...((storage?.["dataDiskImages"] as unknown[]) ?? [])])
    if (disk && typeof disk === "object") delete (disk as Record<string, unknown>)["sizeInGB"];
  const source = props["source"] as Record<string, unknown> | undefined;
  if (source) delete source["exactVersion"];
  const identity = clone["identity"] as { userAssignedIdentities?: Record<string, unknown> } | undefined;
  if (identity?.userAssignedIdentities)
    for (const key of Object.keys(identity.userAssignedIdentities)) identity.userAssignedIdentities[key] = {};
  if (typeof clone["location"] === "string") clone["location"] = here;
  return clone;
}

const defaultTemplate = (identityId: string): Record<string, unknown> => ({
  location: here,
  identity: { type: "UserAssigned", userAssignedIdentities: { [identityId]: {} } },
  properties: {
    source: {
      type: "ManagedImage",
      imageId: `${sub}/resourceGroups/source_rg/providers/Microsoft.Compute/images/source_image`,
    },
    customize: [
      { type: "Shell", name: "Shell customization example", scriptUri: "https://example.com/path/to/script.sh" },
    ],
    distribute: [
      {
        type: "ManagedImage",
        location: here,
        runOutputName: "image_it_pir_1",
        imageId: `${sub}/resourceGroups/rg1/providers/Microsoft.Compute/images/image_it_1`,
      },
    ],
  },
});
const defaultIdentity = `${sub}/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/identity_1`;

/** Builds what the example presumes exists, through the emulator's own API. */
async function arrange(h: Harness, example: SpecExample, op: Operation): Promise<void> {
  const apiVersion = new URLSearchParams(op.query).get("api-version")!;
  const world = new World(h, apiVersion, op.kind === "template" ? "Linux" : "Windows");
  await world.group(rg);
  const ownGroup = /\/resourceGroups\/([^/]+)/i.exec(op.path)?.[1];
  if (ownGroup) await world.group(ownGroup);
  const answer = (example.responses["200"]?.body ?? example.responses["201"]?.body) as
    Record<string, unknown> | undefined;
  const items =
    (answer?.["value"] as Record<string, unknown>[] | undefined) ?? (Array.isArray(answer) ? answer : undefined);

  if (op.action === "create") {
    if (op.kind === "galleryImage") await world.gallery(op.path.replace(/\/images\/[^/]+$/i, ""));
    if (op.kind === "version") await world.definition(op.path.replace(/\/versions\/[^/]+$/i, ""));
    await world.references(op.body);
    return;
  }
  switch (op.kind) {
    case "platform": {
      const p = example.parameters as Record<string, string>;
      const versions = op.action === "get" ? [p["version"]!] : (items ?? []).map((i) => String(i["name"]));
      const props = (answer as { properties?: Record<string, unknown> } | undefined)?.properties ?? {};
      const osDisk = props["osDiskImage"] as { operatingSystem?: "Linux" | "Windows" } | undefined;
      await h.admin("PUT", "platform-images", {
        replace: true,
        images: [
          {
            publisher: p["publisherName"],
            offer: p["offer"],
            sku: p["skus"],
            versions,
            ...(osDisk?.operatingSystem ? { osType: osDisk.operatingSystem } : {}),
            ...(props["hyperVGeneration"] ? { hyperVGeneration: props["hyperVGeneration"] } : {}),
          },
        ],
      });
      return;
    }
    case "gallery": {
      const bodies = items ?? [answer ?? {}];
      for (const [i, item] of bodies.entries())
        await world.gallery(
          i === 0 && op.action !== "list"
            ? op.path
            : `${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/myGalleryName${i}`,
          requestFrom(item)["properties"] as Record<string, unknown>,
        );
      if (items) await world.gallery(`${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/another`);
      return;
    }
    case "galleryImage": {
      const definitionPath = op.action === "list" ? `${op.path}/myGalleryImageName` : op.path;
      const props = requestFrom(items?.[0] ?? answer ?? {})["properties"] as Record<string, unknown> | undefined;
      await world.definition(definitionPath, props && Object.keys(props).length > 0 ? props : undefined);
      if (items) await world.definition(`${op.path}/another`);
      return;
    }
    case "version": {
      const versionPath = op.action === "list" ? `${op.path}/1.0.0` : op.path;
      const source = items?.[0] ?? answer;
      await world.version(versionPath, source ? fill(requestFrom(source)) : undefined);
      if (items) await world.version(`${op.path}/1.0.1`, fill(requestFrom(source!)));
      return;
    }
    case "image": {
      const imagePath =
        op.action === "list"
          ? `${op.path.replace(/^\/subscriptions\/[^/]+\/providers/, `${sub}/resourceGroups/${rg}/providers`)}/myImage`
          : op.path;
      const model = items?.[0] ?? (answer && !Array.isArray(answer) ? answer : undefined);
      const body = model ? fill(requestFrom(model)) : undefined;
      const request =
        body?.["properties"] && (body["properties"] as Record<string, unknown>)["storageProfile"]
          ? body
          : {
              location: here,
              properties: {
                storageProfile: {
                  osDisk: {
                    osType: "Windows",
                    osState: "Generalized",
                    blobUri: "https://mystorageaccount.blob.core.windows.net/osimages/osimage.vhd",
                  },
                },
              },
            };
      delete (request["properties"] as Record<string, unknown>)["sourceVirtualMachine"];
      await world.references(request);
      await world.call("PUT", imagePath, request, "2025-04-01");
      if (items) await world.call("PUT", `${imagePath}2`, request, "2025-04-01");
      return;
    }
    case "template": {
      await templateWorld(h, world, example, op, items, answer);
      return;
    }
  }
}

async function templateWorld(
  h: Harness,
  world: World,
  example: SpecExample,
  op: Operation,
  items: Record<string, unknown>[] | undefined,
  answer: Record<string, unknown> | undefined,
): Promise<void> {
  const templatePath = (id: string) => id.replace(/\/resourcegroups\//i, "/resourceGroups/");
  const put = async (id: string, body: Record<string, unknown>) => {
    await world.references(body);
    await world.group(groupOf(id));
    await world.call("PUT", templatePath(id), body);
  };
  if (op.action === "list") {
    for (const item of items ?? []) {
      const body = fill(requestFrom(item));
      await put(fill(String(item["id"])), body);
    }
    if ((items?.length ?? 0) < 2)
      await put(
        `${op.path.replace(/^\/subscriptions\/[^/]+\/providers/, `${sub}/resourceGroups/${rg}/providers`)}/another`,
        defaultTemplate(defaultIdentity),
      );
    return;
  }
  if (op.action === "runOutputs" || op.action === "runOutput") {
    const outputs = (items ?? [answer!]).map((o) => fill(o));
    const distribute = [];
    for (const o of outputs) {
      const artifact = String((o["properties"] as { artifactId: string }).artifactId).replace(
        /\/imageversions\//i,
        "/versions/",
      );
      if (/\/galleries\//i.test(artifact)) {
        await world.definition(artifact.replace(/\/versions\/[^/]+$/i, ""));
        distribute.push({
          type: "SharedImage",
          runOutputName: o["name"],
          galleryImageId: artifact,
          targetRegions: [{ name: here }],
        });
      } else {
        await world.group(groupOf(artifact));
        distribute.push({ type: "ManagedImage", runOutputName: o["name"], imageId: artifact, location: here });
      }
    }
    const body = defaultTemplate(defaultIdentity);
    (body["properties"] as Record<string, unknown>)["distribute"] = distribute;
    await put(op.path.replace(/\/runOutputs(\/[^/]+)?$/i, ""), body);
    await world.call("POST", `${op.path.replace(/\/runOutputs(\/[^/]+)?$/i, "")}/run`);
    await settleRun(h, world, op.path.replace(/\/runOutputs(\/[^/]+)?$/i, ""));
    return;
  }
  const body = answer && !Array.isArray(answer) ? fill(requestFrom(answer)) : defaultTemplate(defaultIdentity);
  if ((body["identity"] as { type?: string } | undefined)?.type !== "UserAssigned")
    body["identity"] = defaultTemplate(defaultIdentity)["identity"];
  await put(op.path.replace(/\/(run|cancel)$/i, ""), body);
  if (op.action === "cancel") {
    await h.admin("PATCH", "config", {
      imageBuilder: { phaseDurationsInMs: { Queued: 3_600_000, Building: 3_600_000 } },
    });
    await world.call("POST", `${op.path.replace(/\/cancel$/i, "")}/run`);
  }
}

async function settleRun(h: Harness, world: World, templatePath: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const t = await world.call("GET", templatePath);
    const state = (t["properties"] as { lastRunStatus?: { runState?: string } }).lastRunStatus?.runState ?? "";
    if (!["Running", "Canceling", ""].includes(state)) return;
    await h.admin("POST", "clock", { advanceByMs: 600_000 });
  }
  throw new Error(`run of ${templatePath} did not finish`);
}

// ---------------------------------------------------------------- replay

export interface ExampleResult {
  file: string;
  /** notModelled: not replayed (reason in `reason`). */
  outcome: "matched" | "mismatched" | "notModelled";
  reason?: string;
  differences: string[];
  /** Property paths of the example's body compared (after `recordedOtherwise`). */
  compared: number;
}

export async function replayExample(h: Harness, file: string): Promise<ExampleResult> {
  const example = loadExample(file);
  const reason = notModelled[example.name];
  if (reason) return { file, outcome: "notModelled", reason, differences: [], compared: 0 };
  await h.admin("POST", "reset");
  await h.admin("PUT", "config", { ...fastConfig, pageSize: 1 });
  const op = operationOf(example);
  await arrange(h, example, op);

  const response = await h.raw(op.method, `${op.path}?${op.query}`, { token: "examples", body: op.body });
  // A list's shape is that of all its pages (the emulator pages by one here, so that nextLink shows).
  let next = (response.body as { nextLink?: string } | undefined)?.nextLink;
  while (op.action === "list" && next) {
    const page = await h.raw("GET", next.slice(h.emulator.endpoint.length), { token: "examples" });
    const values = (page.body as { value: unknown[] }).value;
    (response.body as { value: unknown[] }).value.push(...values);
    next = (page.body as { nextLink?: string }).nextLink;
  }
  const differences: string[] = [];
  let compared = 0;
  const documented = example.responses[String(response.status)];
  if (!documented) {
    differences.push(
      `status ${response.status} (example documents ${Object.keys(example.responses).join(", ")}): ${JSON.stringify(response.body)}`,
    );
  } else {
    for (const header of Object.keys(documented.headers ?? {}))
      if (response.headers[header.toLowerCase()] === undefined) differences.push(`missing header ${header}`);
    // An update answered 202 without a body (Image Builder): the resource it leaves must look like the 200 answer.
    const afterUpdate = response.status === 202 && op.method === "PATCH" ? example.responses["200"]?.body : undefined;
    let answer = response.body;
    if (afterUpdate !== undefined) {
      await h.admin("POST", "clock", { advanceByMs: 600_000 });
      answer = (await h.raw("GET", `${op.path}?${op.query}`, { token: "examples" })).body;
    }
    const expected = documented.body ?? afterUpdate;
    if (expected !== undefined) {
      const skip = recordedOtherwise(example, op.method);
      const got = shapeOf(answer);
      for (const [p, t] of shapeOf(fill(expected))) {
        if (skip.some((r) => r.test(p))) continue;
        compared += 1;
        if (got.get(p) !== t) differences.push(`${p}: ${t} (emulator: ${got.get(p) ?? "nothing"})`);
      }
    }
  }
  return { file, outcome: differences.length === 0 ? "matched" : "mismatched", differences, compared };
}
