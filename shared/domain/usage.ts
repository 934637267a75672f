/**
 * Where each gallery image version runs: the VMs, scale sets and scale-set instances whose image reference points at
 * it. Pure: the fleet is read elsewhere (Resource Graph, one sweep for every image) and handed in as plain members.
 */

/** What a member of the fleet is. A Flexible scale set's VMs are its instances. */
export type FleetMemberKind = "virtualMachine" | "scaleSet" | "scaleSetInstance";

/** One VM, scale set or scale-set instance whose image is a Compute Gallery image. */
export interface FleetMember {
  id: string;
  kind: FleetMemberKind;
  subscriptionId: string;
  resourceGroup: string;
  /** `storageProfile.imageReference.id` (a scale set: its model's): a gallery image version or definition. */
  imageId: string;
  /** The version a definition reference was resolved to when the VM or instance was created (`exactVersion`). */
  exactVersion?: string;
  /** The scale set an instance belongs to. */
  scaleSetId?: string;
}

/** One sweep of the fleet. */
export interface FleetUsage {
  readAt: Date;
  /** The subscriptions the sweep covered, every one of them readable. */
  subscriptionIds: string[];
  members: FleetMember[];
}

/** Where one version runs, in one subscription and resource group. */
export interface UsageLocation {
  subscriptionId: string;
  resourceGroup: string;
  virtualMachines: number;
  scaleSets: number;
  instances: number;
}

/** Where one version runs. */
export interface VersionUsage {
  /** VMs outside scale sets. */
  virtualMachines: number;
  /** Scale sets whose model names the version, or with an instance running it. */
  scaleSets: number;
  /** Scale-set instances (Uniform) and VMs of Flexible scale sets running the version. */
  instances: number;
  /** By subscription, then resource group. */
  locations: UsageLocation[];
}

/** The parts of a gallery image reference. */
export interface GalleryImageReference {
  subscriptionId: string;
  resourceGroup: string;
  gallery: string;
  definition: string;
  version?: string;
}

const referencePattern =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/galleries\/([^/]+)\/images\/([^/]+)(?:\/versions\/([^/]+))?\/?$/i;

/** Parses an image reference id of a gallery image version or definition; undefined for anything else. */
export function parseGalleryImageReference(id: string): GalleryImageReference | undefined {
  const m = referencePattern.exec(id.trim());
  if (!m) return undefined;
  return {
    subscriptionId: m[1]!,
    resourceGroup: m[2]!,
    gallery: m[3]!,
    definition: m[4]!,
    ...(m[5] !== undefined ? { version: m[5] } : {}),
  };
}

/** ARM names compare without case. */
const definitionKey = (r: { subscriptionId: string; resourceGroup: string; gallery: string; definition: string }) =>
  [r.subscriptionId, r.resourceGroup, r.gallery, r.definition].join("/").toLowerCase();

/** The version a member runs, when its reference points into the definition; `latest` for an unresolved definition. */
function versionOf(member: FleetMember, reference: GalleryImageReference): string | undefined {
  return reference.version ?? member.exactVersion ?? undefined;
}

/**
 * Usage of each version of one definition, by version name. A scale set whose model names the definition without a
 * version follows `latest` for its next instances: it is counted under the versions its instances run.
 */
export function usageByVersion(
  members: readonly FleetMember[],
  definition: { subscriptionId: string; resourceGroup: string; gallery: string; definition: string },
): Map<string, VersionUsage> {
  const key = definitionKey(definition);
  const perVersion = new Map<
    string,
    { vms: Set<string>; sets: Set<string>; instances: Set<string>; where: Map<string, UsageLocation> }
  >();
  const entry = (version: string) => {
    let e = perVersion.get(version);
    if (!e) {
      e = { vms: new Set(), sets: new Set(), instances: new Set(), where: new Map() };
      perVersion.set(version, e);
    }
    return e;
  };
  const locate = (e: ReturnType<typeof entry>, member: { subscriptionId: string; resourceGroup: string }) => {
    const k = `${member.subscriptionId}/${member.resourceGroup}`.toLowerCase();
    let l = e.where.get(k);
    if (!l) {
      l = {
        subscriptionId: member.subscriptionId,
        resourceGroup: member.resourceGroup,
        virtualMachines: 0,
        scaleSets: 0,
        instances: 0,
      };
      e.where.set(k, l);
    }
    return l;
  };
  for (const member of members) {
    const reference = parseGalleryImageReference(member.imageId);
    if (!reference || definitionKey(reference) !== key) continue;
    const version = versionOf(member, reference);
    if (version === undefined) continue;
    const e = entry(version);
    const id = member.id.toLowerCase();
    if (member.kind === "virtualMachine" && !e.vms.has(id)) {
      e.vms.add(id);
      locate(e, member).virtualMachines += 1;
    } else if (member.kind === "scaleSetInstance" && !e.instances.has(id)) {
      e.instances.add(id);
      locate(e, member).instances += 1;
    }
    const set = member.kind === "scaleSet" ? member.id : member.scaleSetId;
    if (set !== undefined && member.kind !== "virtualMachine" && !e.sets.has(set.toLowerCase())) {
      e.sets.add(set.toLowerCase());
      locate(e, setLocation(set, member)).scaleSets += 1;
    }
  }
  const out = new Map<string, VersionUsage>();
  for (const [version, e] of perVersion) {
    out.set(version, {
      virtualMachines: e.vms.size,
      scaleSets: e.sets.size,
      instances: e.instances.size,
      locations: [...e.where.values()].sort(
        (a, b) => a.subscriptionId.localeCompare(b.subscriptionId) || a.resourceGroup.localeCompare(b.resourceGroup),
      ),
    });
  }
  return out;
}

/** A scale set's own subscription and group, from its id (an instance's group is the set's). */
function setLocation(setId: string, fallback: { subscriptionId: string; resourceGroup: string }) {
  const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\//i.exec(setId);
  return m ? { subscriptionId: m[1]!, resourceGroup: m[2]! } : fallback;
}

/** True when anything runs the version. */
export function isInUse(usage: VersionUsage | undefined): usage is VersionUsage {
  return usage !== undefined && usage.virtualMachines + usage.scaleSets + usage.instances > 0;
}

/** VMs plus scale-set instances: the machines that run the version. */
export function machinesOf(usage: VersionUsage | undefined): number {
  return usage ? usage.virtualMachines + usage.instances : 0;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "2 VMs, 1 scale set with 3 instances (sub/rg-a, sub/rg-b)": the counts a reason or a log line carries. */
export function describeUsage(usage: VersionUsage): string {
  const parts: string[] = [];
  if (usage.virtualMachines > 0) parts.push(plural(usage.virtualMachines, "VM"));
  if (usage.scaleSets > 0) {
    parts.push(
      `${plural(usage.scaleSets, "scale set")}${usage.instances > 0 ? ` with ${plural(usage.instances, "instance")}` : ""}`,
    );
  } else if (usage.instances > 0) parts.push(plural(usage.instances, "scale-set instance"));
  const where = usage.locations.map((l) => `${l.subscriptionId}/${l.resourceGroup}`);
  const shown = where.slice(0, 5).join(", ") + (where.length > 5 ? `, and ${where.length - 5} more` : "");
  return `${parts.join(", ")} (${shown})`;
}
