import { createHash, randomUUID } from "node:crypto";
import type { PhaseDurations, RunSubState } from "./config.js";
import { ArmError, imageBuilderValidationFailed, resourceNotFound } from "./errors.js";
import {
  asObject,
  bodyObject,
  ensureResourceGroup,
  isoTime,
  listOfType,
  lroHeaders,
  ok,
  page,
  provisioningTimes,
  requireResourceGroupForRead,
  startOperation,
  tagsOf,
  type Ctx,
  type Params,
  type Reply,
} from "./context.js";
import { platformImageVersions, writeManagedImage } from "./compute.js";
import { plainProvisioningState, imageVersionType, resolveLatest, writeVersion } from "./gallery.js";
import { compareVersionNames, globMatches, parseVersionName } from "./names.js";
import { isTerminalRunState, naturalEnd, runPhases, runStatus, type TemplateRun } from "./simulation.js";
import type { RunOutput, Store, StoredResource } from "./store.js";

export const templateType = "Microsoft.VirtualMachineImages/imageTemplates";
const namePattern = /^[A-Za-z0-9-_.]{1,64}$/;

export function templateId(s: string, rg: string, name: string): string {
  return `/subscriptions/${s}/resourceGroups/${rg}/providers/Microsoft.VirtualMachineImages/imageTemplates/${name}`;
}

/** Stable fake GUID derived from a string, for identity principal/client ids. */
function guidOf(seed: string): string {
  const h = createHash("sha256").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function identityView(identity: Record<string, unknown> | undefined): unknown {
  if (!identity) return undefined;
  const assigned = asObject(identity["userAssignedIdentities"]);
  return {
    ...identity,
    userAssignedIdentities: Object.fromEntries(
      Object.keys(assigned).map((k) => [k, { principalId: guidOf(`p:${k}`), clientId: guidOf(`c:${k}`) }]),
    ),
  };
}

function lastRunStatusView(run: TemplateRun, nowMs: number): Record<string, unknown> {
  const rs = runStatus(run, nowMs);
  return {
    startTime: isoTime(rs.startMs),
    ...(rs.endMs !== undefined ? { endTime: isoTime(rs.endMs) } : {}),
    runState: rs.runState,
    ...(rs.runSubState !== undefined && rs.runState !== "Succeeded" ? { runSubState: rs.runSubState } : {}),
    message: rs.message,
  };
}

export function templateView(store: Store, t: StoredResource): unknown {
  const nowMs = store.now();
  return {
    id: t.id,
    name: t.name,
    type: templateType,
    location: t.location,
    ...(t.tags ? { tags: t.tags } : {}),
    identity: identityView(t.identity),
    properties: {
      ...t.properties,
      provisioningState: plainProvisioningState(t, nowMs),
      ...(t.lastRun ? { lastRunStatus: lastRunStatusView(t.lastRun, nowMs) } : {}),
      ...(t.stagingResourceGroupId ? { exactStagingResourceGroup: t.stagingResourceGroupId } : {}),
    },
  };
}

// ---------------------------------------------------------------- validation

function validateSource(source: Record<string, unknown>): void {
  const field = "ImageTemplate.properties.source";
  switch (source["type"]) {
    case "PlatformImage":
      for (const f of ["publisher", "offer", "sku"]) {
        if (typeof source[f] !== "string" || source[f] === "") {
          throw imageBuilderValidationFailed(field, `Field '${f}' is required`);
        }
      }
      return;
    case "ManagedImage":
      if (
        typeof source["imageId"] !== "string" ||
        !/\/providers\/microsoft\.compute\/images\/[^/]+$/i.test(source["imageId"])
      ) {
        throw imageBuilderValidationFailed(
          field,
          `Field 'imageId' has a bad value: '${String(source["imageId"] ?? "")}'`,
        );
      }
      return;
    case "SharedImageVersion":
      if (
        typeof source["imageVersionId"] !== "string" ||
        !/\/providers\/microsoft\.compute\/galleries\//i.test(source["imageVersionId"])
      ) {
        throw imageBuilderValidationFailed(
          field,
          `Field 'imageVersionId' has a bad value: '${String(source["imageVersionId"] ?? "")}'`,
        );
      }
      return;
    default:
      throw imageBuilderValidationFailed(field, `Field 'type' has a bad value: '${String(source["type"] ?? "")}'`);
  }
}

function validateDistribute(distribute: unknown): void {
  const field = "ImageTemplate.properties.distribute";
  if (!Array.isArray(distribute) || distribute.length === 0)
    throw imageBuilderValidationFailed(field, "Field 'distribute' is required");
  const names = new Set<string>();
  distribute.forEach((raw, i) => {
    const d = asObject(raw);
    const at = `${field}[${i}]`;
    const runOutputName = d["runOutputName"];
    if (typeof runOutputName !== "string" || !namePattern.test(runOutputName)) {
      throw imageBuilderValidationFailed(at, `Field 'runOutputName' has a bad value: '${String(runOutputName ?? "")}'`);
    }
    if (names.has(runOutputName.toLowerCase())) {
      throw imageBuilderValidationFailed(at, `Field 'runOutputName' has a duplicate value: '${runOutputName}'`);
    }
    names.add(runOutputName.toLowerCase());
    switch (d["type"]) {
      case "ManagedImage":
        if (
          typeof d["imageId"] !== "string" ||
          !/^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.compute\/images\/[^/]+$/i.test(
            d["imageId"],
          )
        ) {
          throw imageBuilderValidationFailed(at, `Field 'imageId' has a bad value: '${String(d["imageId"] ?? "")}'`);
        }
        if (typeof d["location"] !== "string" || d["location"] === "")
          throw imageBuilderValidationFailed(at, "Field 'location' is required");
        return;
      case "SharedImage":
        if (
          typeof d["galleryImageId"] !== "string" ||
          !/\/providers\/microsoft\.compute\/galleries\/[^/]+\/images\/[^/]+/i.test(d["galleryImageId"])
        ) {
          throw imageBuilderValidationFailed(
            at,
            `Field 'galleryImageId' has a bad value: '${String(d["galleryImageId"] ?? "")}'`,
          );
        }
        return;
      case "VHD":
        return;
      default:
        throw imageBuilderValidationFailed(at, `Field 'type' has a bad value: '${String(d["type"] ?? "")}'`);
    }
  });
}

function validateTemplateBody(name: string, body: Record<string, unknown>): void {
  if (!namePattern.test(name)) {
    throw imageBuilderValidationFailed("ImageTemplate.name", `Field 'name' has a bad value: '${name}'`);
  }
  if (typeof body["location"] !== "string" || body["location"] === "") {
    throw new ArmError(400, "LocationRequired", "The location property is required for this definition.");
  }
  const identity = asObject(body["identity"]);
  if (body["identity"] === undefined)
    throw imageBuilderValidationFailed("ImageTemplate.identity", "Field 'identity' is required");
  if (identity["type"] !== "UserAssigned" && identity["type"] !== "None") {
    throw imageBuilderValidationFailed(
      "ImageTemplate.identity",
      `Field 'type' has a bad value: '${String(identity["type"] ?? "")}'`,
    );
  }
  const props = asObject(body["properties"]);
  if (props["source"] === undefined)
    throw imageBuilderValidationFailed("ImageTemplate.properties.source", "Field 'source' is required");
  validateSource(asObject(props["source"]));
  validateDistribute(props["distribute"]);
  const timeout = props["buildTimeoutInMinutes"];
  if (timeout !== undefined && (typeof timeout !== "number" || timeout < 0 || timeout > 960)) {
    throw imageBuilderValidationFailed(
      "ImageTemplate.properties.buildTimeoutInMinutes",
      `Field 'buildTimeoutInMinutes' has a bad value: '${String(timeout)}'`,
    );
  }
}

/** Canonical JSON (sorted keys) so an identical re-PUT is recognised whatever the key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function comparableBody(body: Record<string, unknown>): string {
  return canonical({
    location: String(body["location"] ?? "").toLowerCase(),
    tags: body["tags"] ?? {},
    identity: body["identity"],
    properties: body["properties"],
  });
}

// ---------------------------------------------------------------- handlers

function getTemplate(ctx: Ctx, p: Params): StoredResource {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const t = ctx.store.get(templateId(ctx.subscriptionId, p["rg"]!, p["template"]!));
  if (!t) throw resourceNotFound(templateType, [p["template"]!], p["rg"]!);
  return t;
}

function notAllowed(operation: string, t: StoredResource, nowMs: number): ArmError {
  const runState = t.lastRun ? runStatus(t.lastRun, nowMs).runState.toLowerCase() : "none";
  const provisioning =
    plainProvisioningState(t, nowMs) === "Succeeded" ? "provisioned" : plainProvisioningState(t, nowMs).toLowerCase();
  return new ArmError(
    409,
    "OperationNotAllowed",
    `Operation Microsoft.VirtualMachineImages/imageTemplates/${operation} is not allowed in provisioning state: ` +
      `${provisioning} or run state: ${runState}.`,
  );
}

export function putTemplate(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  validateTemplateBody(p["template"]!, body);
  const location = String(body["location"]);
  const id = templateId(ctx.subscriptionId, p["rg"]!, p["template"]!);
  const existing = ctx.store.get(id);
  if (existing) {
    if (canonical(existing.requestBody) !== comparableBody(body)) {
      throw new ArmError(
        409,
        "Conflict",
        "Update/Upgrade of image templates is currently not supported. Please change the name of the template you " +
          "are submitting. If you have previously tried to submit a template and it failed to provision, you must " +
          "delete it first and then resubmit. For more information, go to https://aka.ms/azvmimagebuilderts.",
      );
    }
    const op = startOperation(ctx, "imagebuilder", existing.location, { kind: "timer", completesAtMs: ctx.nowMs });
    return {
      status: 200,
      body: templateView(ctx.store, existing),
      headers: lroHeaders(ctx, op, { asyncOperation: true }),
    };
  }
  ensureResourceGroup(ctx, p["rg"]!, location);
  const props = { ...asObject(body["properties"]) };
  for (const ro of ["provisioningState", "provisioningError", "lastRunStatus", "exactStagingResourceGroup"])
    delete props[ro];
  const staging =
    typeof props["stagingResourceGroup"] === "string" && props["stagingResourceGroup"] !== ""
      ? String(props["stagingResourceGroup"])
      : `/subscriptions/${ctx.subscriptionId}/resourceGroups/IT_${p["rg"]!}_${p["template"]!}_${randomUUID()}`;
  const stagingName = staging.split("/").pop() ?? staging;
  if (!ctx.store.getGroup(ctx.subscriptionId, stagingName)) {
    ctx.store.putGroup({
      subscriptionId: ctx.subscriptionId,
      name: stagingName,
      location,
      createdAtMs: ctx.nowMs,
      managedBy: id,
    });
  }
  const template: StoredResource = {
    id,
    type: templateType,
    name: p["template"]!,
    location,
    subscriptionId: ctx.subscriptionId,
    resourceGroup: p["rg"]!,
    tags: tagsOf(body["tags"]),
    identity: asObject(body["identity"]),
    properties: props,
    // Image Builder refuses updates: a template is only ever created.
    ...provisioningTimes(ctx, undefined),
    requestBody: JSON.parse(comparableBody(body)),
    stagingResourceGroupId: staging,
  };
  if (asObject(props["autoRun"])["state"] === "Enabled") {
    template.lastRun = newRun(ctx.store, template, template.provisionedAtMs ?? ctx.nowMs, randomUUID());
    template.runOutputs = [];
  }
  ctx.store.put(template);
  const op = startOperation(ctx, "imagebuilder", location, { kind: "timer", completesAtMs: template.provisionedAtMs });
  return {
    status: 201,
    body: templateView(ctx.store, template),
    headers: lroHeaders(ctx, op, { asyncOperation: true }),
  };
}

export function patchTemplate(ctx: Ctx, p: Params): Reply {
  const body = bodyObject(ctx);
  const t = getTemplate(ctx, p);
  if (body["tags"] !== undefined) t.tags = tagsOf(body["tags"]);
  if (body["identity"] !== undefined) t.identity = asObject(body["identity"]);
  const distribute = asObject(body["properties"])["distribute"];
  if (distribute !== undefined) {
    validateDistribute(distribute);
    t.properties["distribute"] = distribute;
  }
  const vmProfile = asObject(asObject(body["properties"])["vmProfile"]);
  if (Object.keys(vmProfile).length > 0) {
    t.properties["vmProfile"] = { ...asObject(t.properties["vmProfile"]), ...vmProfile };
  }
  t.updatedAtMs = ctx.nowMs;
  ctx.store.put(t);
  return ok(templateView(ctx.store, t));
}

export function getTemplateReply(ctx: Ctx, p: Params): Reply {
  return ok(templateView(ctx.store, getTemplate(ctx, p)));
}

export function deleteTemplate(ctx: Ctx, p: Params): Reply {
  requireResourceGroupForRead(ctx, p["rg"]!);
  const t = ctx.store.get(templateId(ctx.subscriptionId, p["rg"]!, p["template"]!));
  if (!t) return { status: 204 };
  if (t.lastRun && !isTerminalRunState(runStatus(t.lastRun, ctx.nowMs).runState))
    throw notAllowed("delete", t, ctx.nowMs);
  ctx.store.delete(t.id);
  const stagingName = t.stagingResourceGroupId?.split("/").pop();
  const staging = stagingName ? ctx.store.getGroup(t.subscriptionId, stagingName) : undefined;
  if (staging && staging.managedBy?.toLowerCase() === t.id.toLowerCase())
    ctx.store.deleteGroup(t.subscriptionId, staging.name);
  const op = startOperation(ctx, "imagebuilder", t.location, {
    kind: "timer",
    completesAtMs: ctx.nowMs + ctx.store.config.operationDurationInMs,
  });
  return { status: 202, headers: lroHeaders(ctx, op, { location: true }) };
}

export function listTemplatesByGroup(ctx: Ctx, p: Params): Reply {
  return listOfType(ctx, templateType, templateView, p["rg"]!);
}

export function listTemplates(ctx: Ctx): Reply {
  return listOfType(ctx, templateType, templateView);
}

function templateMatchesRule(
  t: StoredResource,
  rule: { templateName?: string; tag?: { name: string; value?: string } },
): boolean {
  if (!globMatches(rule.templateName, t.name)) return false;
  if (rule.tag) {
    const entry = Object.entries(t.tags ?? {}).find(([k]) => k.toLowerCase() === rule.tag!.name.toLowerCase());
    if (!entry) return false;
    if (rule.tag.value !== undefined && entry[1] !== rule.tag.value) return false;
  }
  return true;
}

/** Resolves the source for this run; a problem makes the run fail at Building, as the real service does. */
function resolveSource(store: Store, t: StoredResource): string | undefined {
  const source = asObject(t.properties["source"]);
  switch (source["type"]) {
    case "PlatformImage": {
      const versions = platformImageVersions(
        store,
        t.location,
        String(source["publisher"]),
        String(source["offer"]),
        String(source["sku"]),
      );
      const wanted = String(source["version"] ?? "latest");
      const exact =
        wanted.toLowerCase() === "latest" ? versions[versions.length - 1] : versions.find((v) => v === wanted);
      if (!exact) {
        return `Platform image '${String(source["publisher"])}:${String(source["offer"])}:${String(source["sku"])}:${wanted}' was not found in location '${t.location}'.`;
      }
      t.properties["source"] = { ...source, exactVersion: exact };
      return undefined;
    }
    case "ManagedImage":
      return store.get(String(source["imageId"]))
        ? undefined
        : `Error getting Managed Image '${String(source["imageId"])}': the resource was not found.`;
    case "SharedImageVersion": {
      const id = String(source["imageVersionId"]);
      const isDefinition = !/\/versions\/[^/]+$/i.test(id);
      const version = isDefinition ? resolveLatest(store, id) : store.get(id);
      if (!version) return `Error getting Image Version '${id}': the resource was not found.`;
      t.properties["source"] = { ...source, exactVersion: version.name };
      return undefined;
    }
    default:
      return undefined;
  }
}

function newRun(store: Store, t: StoredResource, startMs: number, operationId: string): TemplateRun {
  let durations: PhaseDurations = { ...store.config.imageBuilder.phaseDurationsInMs };
  let failure: TemplateRun["failure"];
  for (const entry of store.templateRules) {
    if (!templateMatchesRule(t, entry.rule)) continue;
    if (entry.rule.phaseDurationsInMs) durations = { ...durations, ...entry.rule.phaseDurationsInMs };
    if (!failure && entry.rule.failAt && entry.remainingFailures > 0) {
      entry.remainingFailures -= 1;
      failure = {
        subState: entry.rule.failAt,
        message: entry.rule.failureMessage ?? defaultRunFailure(entry.rule.failAt, t),
      };
    }
  }
  const sourceProblem = resolveSource(store, t);
  if (sourceProblem) failure = { subState: "Building", message: sourceProblem };
  if (!failure) {
    const missing = sharedImageTargetProblem(store, t);
    if (missing) failure = { subState: "Distributing", message: missing };
  }
  if (!failure && store.config.imageBuilder.failureRate > 0 && Math.random() < store.config.imageBuilder.failureRate) {
    failure = { subState: "Customizing", message: defaultRunFailure("Customizing", t) };
  }
  const optimize = asObject(asObject(t.properties["optimize"])["vmBoot"])["state"] === "Enabled";
  return {
    runId: randomUUID(),
    operationId,
    startMs,
    phases: runPhases(durations, optimize),
    ...(failure ? { failure } : {}),
    cancelDurationMs: store.config.imageBuilder.cancelDurationInMs,
    materialized: false,
  };
}

function sharedImageTargetProblem(store: Store, t: StoredResource): string | undefined {
  for (const raw of (t.properties["distribute"] as unknown[]) ?? []) {
    const d = asObject(raw);
    if (d["type"] !== "SharedImage") continue;
    const definitionId = String(d["galleryImageId"]).replace(/\/versions\/[^/]+$/i, "");
    if (!store.get(definitionId)) {
      return `Distribution to '${String(d["galleryImageId"])}' failed: the gallery image definition was not found.`;
    }
  }
  return undefined;
}

function defaultRunFailure(subState: RunSubState, t: StoredResource): string {
  return (
    `${subState} step failed: Packer build command has failed: exit status 1. During the image build, a failure has ` +
    "occurred, please review the build log to identify which build/customization step failed. For more " +
    `troubleshooting steps go to https://aka.ms/azvmimagebuilderts. Image Build log location: ` +
    `https://stagingstorage.blob.core.windows.net/packerlogs/${t.name}/customization.log`
  );
}

export function runTemplate(ctx: Ctx, p: Params): Reply {
  const t = getTemplate(ctx, p);
  if (plainProvisioningState(t, ctx.nowMs) !== "Succeeded") throw notAllowed("run", t, ctx.nowMs);
  if (t.lastRun && !isTerminalRunState(runStatus(t.lastRun, ctx.nowMs).runState)) throw notAllowed("run", t, ctx.nowMs);
  const op = startOperation(ctx, "imagebuilder", t.location, { kind: "run", resourceKey: t.id.toLowerCase() });
  t.lastRun = newRun(ctx.store, t, ctx.nowMs, op.id);
  op.runId = t.lastRun.runId;
  t.runOutputs = [];
  ctx.store.put(t);
  return { status: 202, headers: lroHeaders(ctx, op, { asyncOperation: true, location: true }) };
}

export function cancelTemplate(ctx: Ctx, p: Params): Reply {
  const t = getTemplate(ctx, p);
  const run = t.lastRun;
  if (!run || runStatus(run, ctx.nowMs).runState !== "Running") throw notAllowed("cancel", t, ctx.nowMs);
  run.cancelRequestedMs = ctx.nowMs;
  ctx.store.put(t);
  const op = startOperation(ctx, "imagebuilder", t.location, {
    kind: "cancel",
    resourceKey: t.id.toLowerCase(),
    runId: run.runId,
  });
  return { status: 202, headers: lroHeaders(ctx, op, { asyncOperation: true, location: true }) };
}

function runOutputView(t: StoredResource, output: RunOutput): unknown {
  return {
    id: `${t.id}/runOutputs/${output.name}`,
    name: output.name,
    type: `${templateType}/runOutputs`,
    properties: {
      ...(output.artifactId ? { artifactId: output.artifactId } : {}),
      ...(output.artifactUri ? { artifactUri: output.artifactUri } : {}),
      provisioningState: "Succeeded",
    },
  };
}

export function listRunOutputs(ctx: Ctx, p: Params): Reply {
  const t = getTemplate(ctx, p);
  return page(
    ctx,
    (t.runOutputs ?? []).map((o) => runOutputView(t, o)),
  );
}

export function getRunOutput(ctx: Ctx, p: Params): Reply {
  const t = getTemplate(ctx, p);
  const output = (t.runOutputs ?? []).find((o) => o.name.toLowerCase() === p["output"]!.toLowerCase());
  if (!output) throw resourceNotFound(`${templateType}/runOutputs`, [t.name, p["output"]!], p["rg"]!);
  return ok(runOutputView(t, output));
}

// ---------------------------------------------------------------- settling finished runs

function osTypeOf(store: Store, t: StoredResource): "Windows" | "Linux" {
  const source = asObject(t.properties["source"]);
  if (source["type"] === "PlatformImage") {
    return String(source["publisher"]).toLowerCase().startsWith("microsoftwindows") ? "Windows" : "Linux";
  }
  const sourceId = String(source["imageId"] ?? source["imageVersionId"] ?? "");
  const sourceResource = store.get(sourceId);
  const osDisk = asObject(asObject(sourceResource?.properties["storageProfile"])["osDisk"]);
  return osDisk["osType"] === "Windows" ? "Windows" : "Linux";
}

function nextVersionName(store: Store, definitionId: string, major: number | undefined): string {
  const names = store
    .childrenOf(definitionId, imageVersionType)
    .map((v) => v.name)
    .filter((n) => major === undefined || parseVersionName(n)?.[0] === major)
    .sort(compareVersionNames);
  const highest = names.length > 0 ? parseVersionName(names[names.length - 1]!) : undefined;
  if (!highest) return `${major ?? 0}.0.1`;
  return `${highest[0]}.${highest[1]}.${highest[2] + 1}`;
}

/** Writes the artifacts of a succeeded run (managed images, gallery versions, run outputs). */
function materialize(store: Store, t: StoredResource, endMs: number): void {
  const outputs: RunOutput[] = [];
  const osType = osTypeOf(store, t);
  for (const raw of (t.properties["distribute"] as unknown[]) ?? []) {
    const d = asObject(raw);
    const runOutputName = String(d["runOutputName"]);
    const artifactTags = tagsOf(d["artifactTags"]);
    switch (d["type"]) {
      case "ManagedImage": {
        const parts = String(d["imageId"]).split("/");
        const image = writeManagedImage(
          store,
          {
            subscriptionId: parts[2] ?? t.subscriptionId,
            resourceGroup: parts[4] ?? t.resourceGroup,
            name: parts[8] ?? runOutputName,
            location: String(d["location"]),
            tags: artifactTags,
            properties: { storageProfile: { osDisk: { osType, diskSizeGB: osType === "Windows" ? 127 : 30 } } },
          },
          endMs,
        );
        if (!store.getGroup(image.subscriptionId, image.resourceGroup)) {
          store.putGroup({
            subscriptionId: image.subscriptionId,
            name: image.resourceGroup,
            location: image.location,
            createdAtMs: endMs,
          });
        }
        outputs.push({ name: runOutputName, artifactId: image.id });
        break;
      }
      case "VHD": {
        const uri =
          typeof d["uri"] === "string" && d["uri"] !== ""
            ? d["uri"]
            : `https://aibstaging${t.name
                .toLowerCase()
                .replace(/[^a-z0-9]/g, "")
                .slice(0, 10)}.blob.core.windows.net/vhds/${t.name}_${endMs}.vhd`;
        outputs.push({ name: runOutputName, artifactUri: uri });
        break;
      }
      case "SharedImage": {
        const galleryImageId = String(d["galleryImageId"]);
        const versionMatch = /\/versions\/([^/]+)$/i.exec(galleryImageId);
        const definitionId = galleryImageId.replace(/\/versions\/[^/]+$/i, "");
        const parts = definitionId.split("/");
        const versioning = asObject(d["versioning"]);
        const name =
          versionMatch?.[1] ??
          nextVersionName(
            store,
            definitionId,
            typeof versioning["major"] === "number" ? versioning["major"] : undefined,
          );
        const targetRegions = Array.isArray(d["targetRegions"])
          ? (d["targetRegions"] as unknown[]).map((r) => {
              const region = asObject(r);
              return {
                name: region["name"],
                regionalReplicaCount: region["replicaCount"] ?? 1,
                ...(region["storageAccountType"] ? { storageAccountType: region["storageAccountType"] } : {}),
              };
            })
          : Array.isArray(d["replicationRegions"])
            ? (d["replicationRegions"] as unknown[]).map((r) => ({ name: r }))
            : [{ name: t.location }];
        try {
          const { version } = writeVersion(
            store,
            {
              subscriptionId: parts[2] ?? t.subscriptionId,
              resourceGroup: parts[4] ?? t.resourceGroup,
              gallery: parts[8] ?? "",
              imageDefinition: parts[10] ?? "",
              version: name,
              body: {
                location: t.location,
                ...(artifactTags ? { tags: artifactTags } : {}),
                properties: {
                  publishingProfile: {
                    targetRegions,
                    excludeFromLatest: d["excludeFromLatest"] === true,
                    ...(d["replicationMode"] ? { replicationMode: d["replicationMode"] } : {}),
                  },
                  storageProfile: {},
                },
              },
            },
            endMs,
          );
          outputs.push({ name: runOutputName, artifactId: version.id });
        } catch {
          // The definition vanished after the run started; the output is simply absent.
        }
        break;
      }
    }
  }
  t.runOutputs = outputs;
}

/** Settles runs that ended since the last request: cheap when nothing is running. */
export function settleRuns(store: Store): void {
  if (store.activeRuns.size === 0) return;
  const nowMs = store.now();
  for (const key of [...store.activeRuns]) {
    const t = store.resources.get(key);
    const run = t?.lastRun;
    if (!t || !run) {
      store.activeRuns.delete(key);
      continue;
    }
    const rs = runStatus(run, nowMs);
    if (!isTerminalRunState(rs.runState)) continue;
    if (rs.runState === "Succeeded") materialize(store, t, rs.endMs ?? naturalEnd(run).endMs);
    run.materialized = true;
    store.activeRuns.delete(key);
    store.changed();
  }
}
