import { createHash } from "node:crypto";

/*
 * Name rules (sources: azure-rest-api-specs imagebuilder.json 2025-10-01 path parameters; learn.microsoft.com
 * "Naming rules and restrictions for Azure resources", Microsoft.Compute):
 * - image template and run output: `^[A-Za-z0-9-_.]{1,64}$`
 * - managed image: 1-80 alphanumerics, underscores, periods, hyphens; starts with an alphanumeric, ends with an
 *   alphanumeric or underscore.
 * - tags: value at most 256 characters, name at most 512.
 */

/** Longest image template name Image Builder accepts. */
export const maxTemplateNameLength = 64;
/** Longest run output name Image Builder accepts. */
export const maxRunOutputNameLength = 64;
/** Longest managed image name. */
export const maxManagedImageNameLength = 80;
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

/** Run output name of the template's single managed-image distributor (at most 64 characters). */
export function runOutputNameFor(imageName: string, version: string): string {
  return composeName(imageName, version, "-staging", maxRunOutputNameLength);
}

/** Name of the managed image a build distributes to before the pipeline publishes it (at most 80 characters). */
export function stagingImageNameFor(imageName: string, version: string): string {
  return composeName(imageName, version, "-staging", maxManagedImageNameLength);
}

/** Prefix of every tag key the pipeline writes. */
export const tagPrefix = "imagePipeline.";

/** Tag keys the pipeline writes on image templates, staging images and gallery image versions. */
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
  templateName: `${tagPrefix}templateName`,
  stagingImageId: `${tagPrefix}stagingImageId`,
  requestedBy: `${tagPrefix}requestedBy`,
  /** Catalog image name. */
  image: `${tagPrefix}image`,
  version: `${tagPrefix}version`,
  /** When the pipeline created the template (ISO 8601): an abandoned one is swept after a while. */
  createdAt: `${tagPrefix}createdAt`,
} as const;
export type TagName = (typeof tagNames)[keyof typeof tagNames];

/** Value of the {@link tagNames.managedBy} tag. */
export const managedByValue = "image-pipeline";

/** Lifecycle of a gallery image version, as recorded in its {@link tagNames.state} tag. */
export const versionStates = ["replicating", "promoted", "failed"] as const;
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
