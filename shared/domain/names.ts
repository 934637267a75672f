import { createHash } from "node:crypto";

/*
 * Name rules (sources: azure-rest-api-specs imagebuilder.json 2025-10-01 path parameters; learn.microsoft.com
 * "Naming rules and restrictions for Azure resources", Microsoft.Compute):
 * - image template and run output: `^[A-Za-z0-9-_.]{1,64}$`
 * - resource group: 1-90 alphanumerics, underscores, parentheses, hyphens, periods; not ending with a period.
 * - tags: value at most 256 characters, name at most 512.
 */

/** Longest image template name Image Builder accepts. */
export const maxTemplateNameLength = 64;
/** Longest run output name Image Builder accepts. */
export const maxRunOutputNameLength = 64;
/** Longest resource group name. */
export const maxResourceGroupNameLength = 90;
/** Longest tag value ARM accepts. */
export const maxTagValueLength = 256;

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}

/** Replaces characters outside `[A-Za-z0-9-.]` and trims separators so the stem starts and ends alphanumeric. */
function stem(imageName: string): string {
  const cleaned = imageName
    .replace(/[^A-Za-z0-9.-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .replace(/[^A-Za-z0-9]+$/, "");
  return cleaned === "" ? "image" : cleaned;
}

/**
 * `<stem>-<version><suffix>` when it fits in `max`; otherwise the stem is cut and followed by a hash of the full
 * image name, so that two long names sharing a prefix still get different, stable names.
 */
function composeName(imageName: string, version: string, suffix: string, max: number): string {
  const s = stem(imageName);
  const tail = `-${version}${suffix}`;
  if (s.length + tail.length <= max && s === imageName) return `${s}${tail}`;
  const hashed = `-${shortHash(imageName)}${tail}`;
  const room = max - hashed.length;
  if (room < 1) throw new RangeError(`cannot fit a name for version "${version}" in ${max} characters`);
  const cut = s.slice(0, room).replace(/[^A-Za-z0-9]+$/, "") || "i";
  return `${cut}${hashed}`;
}

/** Image template name for a build of `imageName` at `version` (valid, deterministic, at most 64 characters). */
export function templateNameFor(imageName: string, version: string): string {
  return composeName(imageName, version, "", maxTemplateNameLength);
}

/** Run output name of the template's single SharedImage distributor (at most 64 characters). */
export function runOutputNameFor(imageName: string, version: string): string {
  return composeName(imageName, version, "-gallery", maxRunOutputNameLength);
}

/**
 * Name of a build's own staging resource group when the catalog gives a prefix (at most 90 characters). One per
 * template: Image Builder refuses a staging group that another template uses or that is not empty.
 */
export function stagingResourceGroupNameFor(prefix: string, imageName: string, version: string): string {
  return composeName(`${prefix}-${imageName}`, version, "", maxResourceGroupNameLength);
}

/** Prefix of every tag key the pipeline writes. */
export const tagPrefix = "imagePipeline.";

/** Tag keys the pipeline writes on image templates and gallery image versions. */
export const tagNames = {
  /** Marks a resource the pipeline created; value {@link managedByValue}. */
  managedBy: `${tagPrefix}managedBy`,
  buildId: `${tagPrefix}buildId`,
  commit: `${tagPrefix}commit`,
  ref: `${tagPrefix}ref`,
  /** {@link catalogEntryHash} of the catalog entry the build used. */
  catalogHash: `${tagPrefix}catalogHash`,
  /** Exact version of the source image (Image Builder's `exactVersion`). */
  baseImageVersion: `${tagPrefix}baseImageVersion`,
  /** One of {@link versionStates}. */
  state: `${tagPrefix}state`,
  replicationRetries: `${tagPrefix}replicationRetries`,
  /** The last replication recovery step taken (`<n> <action> <regions> <time>`), for operators. */
  replicationAttempt: `${tagPrefix}replicationAttempt`,
  templateName: `${tagPrefix}templateName`,
  requestedBy: `${tagPrefix}requestedBy`,
  /** Catalog image name. */
  image: `${tagPrefix}image`,
  version: `${tagPrefix}version`,
  /** When the pipeline created the template (ISO 8601): an abandoned one is swept after a while. */
  createdAt: `${tagPrefix}createdAt`,
  /** When the pipeline recorded the template's build as failed (ISO 8601): kept for inspection until the retention ends. */
  failedAt: `${tagPrefix}failedAt`,
  /** How many times operators rolled the version back (a manual promotion after n rollbacks is its own step). */
  rollbacks: `${tagPrefix}rollbacks`,
  /** The last rollback: `<ISO time> <who>`. */
  rolledBack: `${tagPrefix}rolledBack`,
  /** Why the version was rolled back, as the operator said. */
  rollbackReason: `${tagPrefix}rollbackReason`,
  /**
   * W3C traceparent of the step that wrote the resource: the timers' work on it (the monitor's checks, promotion or
   * failure, the sweep) continues the build's trace from there.
   */
  traceparent: `${tagPrefix}traceparent`,
  /** Progressive rollout of a promoted version (shared/domain/rollout.ts): `rolling|complete|stopped|halted`. */
  rollout: `${tagPrefix}rollout`,
  /** How many of the catalog's waves `latest` has reached (`1`..`n`). */
  rolloutWave: `${tagPrefix}rolloutWave`,
  /** When the last wave was reached (ISO 8601): its soak starts then. */
  rolloutWaveAt: `${tagPrefix}rolloutWaveAt`,
  /** Consecutive failed health checks before the next wave. */
  rolloutGateFailures: `${tagPrefix}rolloutGateFailures`,
  /** Why the rollout stopped or halted, or what the last failed health check answered. */
  rolloutNote: `${tagPrefix}rolloutNote`,
  /** The last shrink of a superseded version's replicas (`<ISO time> <what changed>`), for operators. */
  replicasShrunk: `${tagPrefix}replicasShrunk`,
} as const;
export type TagName = (typeof tagNames)[keyof typeof tagNames];

/** Value of the {@link tagNames.managedBy} tag. */
export const managedByValue = "image-pipeline";

/**
 * Lifecycle of a gallery image version, as recorded in its {@link tagNames.state} tag: `distributing` while Image
 * Builder writes it to its home region, `replicating` once the pipeline added the other regions, then `promoted`
 * (`latest` may resolve to it) or `failed` (never); `rolledBack` when an operator took it out of `latest` (the monitor
 * never promotes it again; only `image-pipeline promote` does).
 */
export const versionStates = ["distributing", "replicating", "promoted", "failed", "rolledBack"] as const;
export type VersionState = (typeof versionStates)[number];

/** Cuts a tag value to ARM's 256-character limit, marking the cut with "…" and never splitting a surrogate pair. */
export function truncateTagValue(value: string, max: number = maxTagValueLength): string {
  if (value.length <= max) return value;
  let cut = value.slice(0, max - 1);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** Builds a tag map from optional values: drops undefined ones and truncates the rest. */
export function tagsOf(entries: Partial<Record<TagName, string | undefined>>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [key, value] of Object.entries(entries)) {
    if (value !== undefined) tags[key] = truncateTagValue(value);
  }
  return tags;
}
