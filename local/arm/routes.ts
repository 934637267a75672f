import { ArmError } from "./errors.js";
import { isoTime, operationStatus, type Ctx, type Params, type Reply } from "./context.js";
import * as compute from "./compute.js";
import * as gallery from "./gallery.js";
import * as ib from "./imageBuilder.js";
import * as fleet from "./fleet.js";
import { queryResources, resourceGraphApiVersions } from "./resourceGraph.js";
import * as arm from "./resources.js";

type Handler = (ctx: Ctx, params: Params) => Reply;

export interface Route {
  method: string;
  /** Operation name as counted, after the spec's operationId. */
  operation: string;
  segments: string[];
  handler: Handler;
  /** Accepted api-versions; undefined = any. */
  apiVersions?: readonly string[];
  /** A tenant-level operation with its own limits (Resource Graph): ARM's subscription buckets do not apply. */
  tenantLevel?: boolean;
}

/** api-versions accepted per provider surface: the SDKs' own first, then recent ones. */
export const galleryApiVersions = [
  "2025-12-03",
  "2025-03-03",
  "2024-03-03",
  "2023-07-03",
  "2022-08-03",
  "2022-03-03",
  "2022-01-03",
  "2021-10-01",
  "2021-07-01",
];
export const computeApiVersions = [
  "2026-04-01",
  "2025-04-01",
  "2024-11-01",
  "2024-07-01",
  "2024-03-01",
  "2023-09-01",
  "2023-07-01",
  "2023-03-01",
  "2022-11-01",
  "2022-08-01",
];
export const imageBuilderApiVersions = ["2025-10-01", "2024-02-01", "2023-07-01", "2022-07-01", "2022-02-14"];
export const identityApiVersions = [
  "2024-11-30",
  "2023-07-31-preview",
  "2023-01-31",
  "2022-01-31-preview",
  "2018-11-30",
];
export const authorizationApiVersions = ["2022-04-01", "2020-10-01-preview", "2020-04-01-preview", "2015-07-01"];

const sub = "/subscriptions/{subscription}";
const rgPath = `${sub}/resourceGroups/{rg}`;
const galleries = `${rgPath}/providers/Microsoft.Compute/galleries`;
const identities = `${rgPath}/providers/Microsoft.ManagedIdentity/userAssignedIdentities`;
const roleAssignments = "providers/Microsoft.Authorization/roleAssignments/{assignment}";
const templates = `${rgPath}/providers/Microsoft.VirtualMachineImages/imageTemplates`;
const virtualMachines = `${rgPath}/providers/Microsoft.Compute/virtualMachines`;
const scaleSets = `${rgPath}/providers/Microsoft.Compute/virtualMachineScaleSets`;
const vmImage = `${sub}/providers/Microsoft.Compute/locations/{location}/publishers/{publisher}/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions`;

function route(
  method: string,
  operation: string,
  pattern: string,
  handler: Handler,
  apiVersions?: readonly string[],
): Route {
  return { method, operation, segments: pattern.split("/").filter(Boolean), handler, apiVersions };
}

// ---- operation status resources

function operationReply(ctx: Ctx, p: Params): Reply {
  const op = ctx.store.operations.get(p["operation"]!.toLowerCase()) ?? ctx.store.operations.get(p["operation"]!);
  if (!op || op.subscriptionId.toLowerCase() !== ctx.subscriptionId.toLowerCase()) {
    throw new ArmError(404, "ResourceNotFound", `The operation '${p["operation"]!}' was not found.`);
  }
  const status = operationStatus(ctx.store, op, ctx.nowMs);
  const retryAfter = { "Retry-After": String(ctx.store.config.retryAfterInSeconds) };
  if (ctx.url.searchParams.get("monitor") === "true" || op.provider === "resources") {
    if (status.status === "InProgress") {
      return { status: 202, headers: { ...retryAfter, Location: ctx.url.toString() } };
    }
    if (status.status === "Failed") return { status: 400, body: { error: status.error } };
    return { status: 200 };
  }
  return {
    status: 200,
    headers: status.status === "InProgress" ? retryAfter : {},
    body: {
      name: op.id,
      status: status.status,
      startTime: isoTime(op.startMs),
      ...(status.endMs !== undefined ? { endTime: isoTime(status.endMs) } : {}),
      ...(status.error ? { error: status.error } : {}),
    },
  };
}

export const routes: Route[] = [
  route("PUT", "ResourceGroups_CreateOrUpdate", rgPath, arm.putResourceGroup),
  route("GET", "ResourceGroups_Get", rgPath, arm.getResourceGroup),
  route("HEAD", "ResourceGroups_CheckExistence", rgPath, arm.headResourceGroup),
  route("DELETE", "ResourceGroups_Delete", rgPath, arm.deleteResourceGroup),
  route("GET", "ResourceGroupOperationResults_Get", `${sub}/operationresults/{operation}`, operationReply),

  route(
    "PUT",
    "UserAssignedIdentities_CreateOrUpdate",
    `${identities}/{identity}`,
    arm.putIdentity,
    identityApiVersions,
  ),
  route("GET", "UserAssignedIdentities_Get", `${identities}/{identity}`, arm.getIdentityReply, identityApiVersions),
  route("DELETE", "UserAssignedIdentities_Delete", `${identities}/{identity}`, arm.deleteIdentity, identityApiVersions),
  route(
    "GET",
    "UserAssignedIdentities_ListByResourceGroup",
    identities,
    arm.listIdentitiesByGroup,
    identityApiVersions,
  ),
  route(
    "GET",
    "UserAssignedIdentities_ListBySubscription",
    `${sub}/providers/Microsoft.ManagedIdentity/userAssignedIdentities`,
    arm.listIdentities,
    identityApiVersions,
  ),

  ...(["PUT", "GET", "DELETE"] as const).flatMap((method) => {
    const handler =
      method === "PUT" ? arm.putRoleAssignment : method === "GET" ? arm.getRoleAssignment : arm.deleteRoleAssignment;
    const operation = `RoleAssignments_${method === "PUT" ? "Create" : method === "GET" ? "Get" : "Delete"}`;
    return [
      route(method, operation, `${sub}/${roleAssignments}`, handler, authorizationApiVersions),
      route(method, operation, `${rgPath}/${roleAssignments}`, handler, authorizationApiVersions),
      route(
        method,
        operation,
        `${rgPath}/providers/{namespace}/{resourceType}/{resourceName}/${roleAssignments}`,
        handler,
        authorizationApiVersions,
      ),
    ];
  }),

  route(
    "GET",
    "Galleries_List",
    `${sub}/providers/Microsoft.Compute/galleries`,
    gallery.listGalleries,
    galleryApiVersions,
  ),
  route("GET", "Galleries_ListByResourceGroup", galleries, gallery.listGalleriesByGroup, galleryApiVersions),
  route("PUT", "Galleries_CreateOrUpdate", `${galleries}/{gallery}`, gallery.putGallery, galleryApiVersions),
  route("PATCH", "Galleries_Update", `${galleries}/{gallery}`, gallery.patchGallery, galleryApiVersions),
  route("GET", "Galleries_Get", `${galleries}/{gallery}`, gallery.getGalleryReply, galleryApiVersions),
  route("DELETE", "Galleries_Delete", `${galleries}/{gallery}`, gallery.deleteGallery, galleryApiVersions),

  route(
    "GET",
    "GalleryImages_ListByGallery",
    `${galleries}/{gallery}/images`,
    gallery.listImageDefinitions,
    galleryApiVersions,
  ),
  route(
    "PUT",
    "GalleryImages_CreateOrUpdate",
    `${galleries}/{gallery}/images/{image}`,
    gallery.putImageDefinition,
    galleryApiVersions,
  ),
  route(
    "PATCH",
    "GalleryImages_Update",
    `${galleries}/{gallery}/images/{image}`,
    gallery.patchImageDefinition,
    galleryApiVersions,
  ),
  route(
    "GET",
    "GalleryImages_Get",
    `${galleries}/{gallery}/images/{image}`,
    gallery.getImageDefinitionReply,
    galleryApiVersions,
  ),
  route(
    "DELETE",
    "GalleryImages_Delete",
    `${galleries}/{gallery}/images/{image}`,
    gallery.deleteImageDefinition,
    galleryApiVersions,
  ),

  route(
    "GET",
    "GalleryImageVersions_ListByGalleryImage",
    `${galleries}/{gallery}/images/{image}/versions`,
    gallery.listImageVersions,
    galleryApiVersions,
  ),
  route(
    "PUT",
    "GalleryImageVersions_CreateOrUpdate",
    `${galleries}/{gallery}/images/{image}/versions/{version}`,
    gallery.putImageVersion,
    galleryApiVersions,
  ),
  route(
    "PATCH",
    "GalleryImageVersions_Update",
    `${galleries}/{gallery}/images/{image}/versions/{version}`,
    gallery.patchImageVersion,
    galleryApiVersions,
  ),
  route(
    "GET",
    "GalleryImageVersions_Get",
    `${galleries}/{gallery}/images/{image}/versions/{version}`,
    gallery.getImageVersionReply,
    galleryApiVersions,
  ),
  route(
    "DELETE",
    "GalleryImageVersions_Delete",
    `${galleries}/{gallery}/images/{image}/versions/{version}`,
    gallery.deleteImageVersion,
    galleryApiVersions,
  ),

  route(
    "GET",
    "Images_List",
    `${sub}/providers/Microsoft.Compute/images`,
    compute.listManagedImages,
    computeApiVersions,
  ),
  route(
    "GET",
    "Images_ListByResourceGroup",
    `${rgPath}/providers/Microsoft.Compute/images`,
    compute.listManagedImagesByGroup,
    computeApiVersions,
  ),
  route(
    "PUT",
    "Images_CreateOrUpdate",
    `${rgPath}/providers/Microsoft.Compute/images/{image}`,
    compute.putManagedImage,
    computeApiVersions,
  ),
  route(
    "PATCH",
    "Images_Update",
    `${rgPath}/providers/Microsoft.Compute/images/{image}`,
    compute.patchManagedImage,
    computeApiVersions,
  ),
  route(
    "GET",
    "Images_Get",
    `${rgPath}/providers/Microsoft.Compute/images/{image}`,
    compute.getManagedImageReply,
    computeApiVersions,
  ),
  route(
    "DELETE",
    "Images_Delete",
    `${rgPath}/providers/Microsoft.Compute/images/{image}`,
    compute.deleteManagedImage,
    computeApiVersions,
  ),

  route(
    "GET",
    "VirtualMachines_ListAll",
    `${sub}/providers/Microsoft.Compute/virtualMachines`,
    fleet.listVirtualMachines,
    computeApiVersions,
  ),
  route("GET", "VirtualMachines_List", virtualMachines, fleet.listVirtualMachinesByGroup, computeApiVersions),
  route(
    "PUT",
    "VirtualMachines_CreateOrUpdate",
    `${virtualMachines}/{vm}`,
    fleet.putVirtualMachine,
    computeApiVersions,
  ),
  route("GET", "VirtualMachines_Get", `${virtualMachines}/{vm}`, fleet.getVirtualMachine, computeApiVersions),
  route("DELETE", "VirtualMachines_Delete", `${virtualMachines}/{vm}`, fleet.deleteVirtualMachine, computeApiVersions),
  route(
    "GET",
    "VirtualMachineScaleSets_ListAll",
    `${sub}/providers/Microsoft.Compute/virtualMachineScaleSets`,
    fleet.listScaleSets,
    computeApiVersions,
  ),
  route("GET", "VirtualMachineScaleSets_List", scaleSets, fleet.listScaleSetsByGroup, computeApiVersions),
  route("PUT", "VirtualMachineScaleSets_CreateOrUpdate", `${scaleSets}/{vmss}`, fleet.putScaleSet, computeApiVersions),
  route("GET", "VirtualMachineScaleSets_Get", `${scaleSets}/{vmss}`, fleet.getScaleSet, computeApiVersions),
  route("DELETE", "VirtualMachineScaleSets_Delete", `${scaleSets}/{vmss}`, fleet.deleteScaleSet, computeApiVersions),
  route(
    "GET",
    "VirtualMachineScaleSetVMs_List",
    `${scaleSets}/{vmss}/virtualMachines`,
    fleet.listScaleSetInstances,
    computeApiVersions,
  ),
  route(
    "GET",
    "VirtualMachineScaleSetVMs_Get",
    `${scaleSets}/{vmss}/virtualMachines/{instance}`,
    fleet.getScaleSetInstance,
    computeApiVersions,
  ),
  {
    ...route(
      "POST",
      "ResourceGraph_Resources",
      "/providers/Microsoft.ResourceGraph/resources",
      queryResources,
      resourceGraphApiVersions,
    ),
    tenantLevel: true,
  },

  route("GET", "VirtualMachineImages_List", vmImage, compute.listPlatformImageVersions, computeApiVersions),
  route("GET", "VirtualMachineImages_Get", `${vmImage}/{version}`, compute.getPlatformImageVersion, computeApiVersions),

  route(
    "GET",
    "ComputeOperationStatus_Get",
    `${sub}/providers/Microsoft.Compute/locations/{location}/capsOperations/{operation}`,
    operationReply,
  ),

  route(
    "GET",
    "VirtualMachineImageTemplates_List",
    `${sub}/providers/Microsoft.VirtualMachineImages/imageTemplates`,
    ib.listTemplates,
    imageBuilderApiVersions,
  ),
  route(
    "GET",
    "VirtualMachineImageTemplates_ListByResourceGroup",
    templates,
    ib.listTemplatesByGroup,
    imageBuilderApiVersions,
  ),
  route(
    "PUT",
    "VirtualMachineImageTemplates_CreateOrUpdate",
    `${templates}/{template}`,
    ib.putTemplate,
    imageBuilderApiVersions,
  ),
  route(
    "PATCH",
    "VirtualMachineImageTemplates_Update",
    `${templates}/{template}`,
    ib.patchTemplate,
    imageBuilderApiVersions,
  ),
  route(
    "GET",
    "VirtualMachineImageTemplates_Get",
    `${templates}/{template}`,
    ib.getTemplateReply,
    imageBuilderApiVersions,
  ),
  route(
    "DELETE",
    "VirtualMachineImageTemplates_Delete",
    `${templates}/{template}`,
    ib.deleteTemplate,
    imageBuilderApiVersions,
  ),
  route(
    "POST",
    "VirtualMachineImageTemplates_Run",
    `${templates}/{template}/run`,
    ib.runTemplate,
    imageBuilderApiVersions,
  ),
  route(
    "POST",
    "VirtualMachineImageTemplates_Cancel",
    `${templates}/{template}/cancel`,
    ib.cancelTemplate,
    imageBuilderApiVersions,
  ),
  route(
    "GET",
    "VirtualMachineImageTemplates_ListRunOutputs",
    `${templates}/{template}/runOutputs`,
    ib.listRunOutputs,
    imageBuilderApiVersions,
  ),
  route(
    "GET",
    "VirtualMachineImageTemplates_GetRunOutput",
    `${templates}/{template}/runOutputs/{output}`,
    ib.getRunOutput,
    imageBuilderApiVersions,
  ),
  route(
    "GET",
    "ImageBuilderOperationStatus_Get",
    `${sub}/providers/Microsoft.VirtualMachineImages/locations/{location}/operations/{operation}`,
    operationReply,
  ),
];

export interface RouteMatch {
  route: Route;
  params: Params;
}

/** Finds the route for a path (segments compared case-insensitively, as ARM does). */
export function matchRoute(method: string, pathname: string): RouteMatch | "method-not-allowed" | undefined {
  const segments = pathname
    .split("/")
    .filter(Boolean)
    .map((s) => decodeURIComponent(s));
  let pathMatched = false;
  for (const r of routes) {
    if (r.segments.length !== segments.length) continue;
    const params: Params = {};
    let matched = true;
    for (let i = 0; i < segments.length; i++) {
      const pattern = r.segments[i]!;
      const actual = segments[i]!;
      if (pattern.startsWith("{")) params[pattern.slice(1, -1)] = actual;
      else if (pattern.toLowerCase() !== actual.toLowerCase()) {
        matched = false;
        break;
      }
    }
    if (!matched) continue;
    pathMatched = true;
    if (r.method === method) return { route: r, params };
  }
  return pathMatched ? "method-not-allowed" : undefined;
}
