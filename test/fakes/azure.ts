import type { GalleryImageVersion, GalleryImageVersionUpdate } from "@azure/arm-compute";
import type { ImageTemplate } from "@azure/arm-imagebuilder";
import type { QueueName } from "../../shared/config/queues.js";
import { parseArmId } from "../../shared/armIds.js";
import type {
  GalleryClient,
  ImageBuilderClient,
  ImageDefinitionRef,
  Logger,
  ManagedImageSummary,
  MessageSender,
  TemplateSummary,
  VersionDetails,
} from "../../shared/ports.js";

/**
 * Hand-written fakes of the ports: an in-memory gallery and Image Builder whose state tests set and inspect
 * directly. They answer like the adapters do (undefined for a missing resource), nothing more.
 */

const key = (ref: ImageDefinitionRef) => `${ref.subscriptionId}/${ref.resourceGroup}/${ref.gallery}/${ref.definition}`;

export class FakeGallery implements GalleryClient {
  definitions = new Map<string, { tags: Record<string, string> }>();
  versions = new Map<string, Map<string, VersionDetails>>();
  managedImages = new Map<string, ManagedImageSummary>();
  platformVersions: string[] = ["24.04.202410010", "24.04.202411030"];
  calls: string[] = [];

  async getImageDefinition(ref: ImageDefinitionRef) {
    this.calls.push("getImageDefinition");
    return this.definitions.get(key(ref));
  }
  async createImageDefinition(ref: ImageDefinitionRef) {
    this.calls.push("createImageDefinition");
    this.definitions.set(key(ref), { tags: {} });
  }
  async updateImageDefinitionTags(ref: ImageDefinitionRef, tags: Record<string, string>) {
    this.calls.push("updateImageDefinitionTags");
    this.definitions.set(key(ref), { tags });
  }
  async listVersions(ref: ImageDefinitionRef) {
    this.calls.push("listVersions");
    return [...(this.versions.get(key(ref))?.values() ?? [])].map(({ replication: _r, ...summary }) => summary);
  }
  async getVersion(ref: ImageDefinitionRef, version: string) {
    this.calls.push("getVersion");
    return this.versions.get(key(ref))?.get(version);
  }
  async createVersion(ref: ImageDefinitionRef, version: string, body: GalleryImageVersion) {
    this.calls.push("createVersion");
    const versions = this.versions.get(key(ref)) ?? new Map<string, VersionDetails>();
    this.versions.set(key(ref), versions);
    const regions = (body.publishingProfile?.targetRegions ?? []).map((r) => ({
      name: r.name,
      regionalReplicaCount: r.regionalReplicaCount,
    }));
    versions.set(version, {
      name: version,
      location: body.location,
      provisioningState: "Creating",
      publishedDate: new Date(),
      endOfLifeDate: body.publishingProfile?.endOfLifeDate,
      excludeFromLatest: body.publishingProfile?.excludeFromLatest ?? false,
      targetRegions: regions,
      tags: body.tags ?? {},
      replication: {
        aggregatedState: "InProgress",
        summary: regions.map((r) => ({ region: r.name, state: "Replicating", progress: 0 })),
      },
    });
  }
  async updateVersion(ref: ImageDefinitionRef, version: string, update: GalleryImageVersionUpdate) {
    this.calls.push("updateVersion");
    const v = this.versions.get(key(ref))?.get(version);
    if (!v) throw new Error(`no version ${version}`);
    if (update.tags) v.tags = update.tags;
    if (update.publishingProfile?.excludeFromLatest !== undefined)
      v.excludeFromLatest = update.publishingProfile.excludeFromLatest;
  }
  async deleteVersion(ref: ImageDefinitionRef, version: string) {
    this.calls.push("deleteVersion");
    this.versions.get(key(ref))?.delete(version);
  }
  async getManagedImage(id: string) {
    this.calls.push("getManagedImage");
    return this.managedImages.get(id.toLowerCase());
  }
  async listManagedImages() {
    this.calls.push("listManagedImages");
    return [...this.managedImages.values()];
  }
  async deleteManagedImage(id: string) {
    this.calls.push("deleteManagedImage");
    this.managedImages.delete(id.toLowerCase());
  }
  async listPlatformImageVersions() {
    this.calls.push("listPlatformImageVersions");
    return this.platformVersions;
  }

  /** Test helper: sets a version's replication (and provisioning state) as the gallery would report it. */
  setReplication(ref: ImageDefinitionRef, version: string, states: Record<string, string>) {
    const v = this.versions.get(key(ref))?.get(version);
    if (!v) throw new Error(`no version ${version}`);
    const summary = Object.entries(states).map(([region, state]) => ({
      region,
      state,
      progress: state === "Completed" ? 100 : 50,
    }));
    const all = (s: string) => summary.every((r) => r.state === s);
    v.replication = {
      aggregatedState: all("Completed")
        ? "Completed"
        : summary.some((r) => r.state === "Failed")
          ? "Failed"
          : "InProgress",
      summary,
    };
    v.provisioningState = all("Completed")
      ? "Succeeded"
      : summary.some((r) => r.state === "Failed")
        ? "Failed"
        : "Creating";
  }

  versionsOf(ref: ImageDefinitionRef): VersionDetails[] {
    return [...(this.versions.get(key(ref))?.values() ?? [])];
  }
}

export class FakeImageBuilder implements ImageBuilderClient {
  templates = new Map<string, TemplateSummary & { body: ImageTemplate }>();
  calls: string[] = [];
  constructor(private readonly gallery: FakeGallery) {}

  async getTemplate(_s: string, _rg: string, name: string) {
    this.calls.push("getTemplate");
    return this.templates.get(name);
  }
  async listTemplates() {
    this.calls.push("listTemplates");
    return [...this.templates.values()];
  }
  async createTemplate(_s: string, _rg: string, name: string, template: ImageTemplate) {
    this.calls.push("createTemplate");
    if (this.templates.has(name)) throw Object.assign(new Error("update not supported"), { statusCode: 409 });
    const created = {
      name,
      location: template.location,
      tags: template.tags ?? {},
      provisioningState: "Succeeded" as const,
      runOutputNames: (template.distribute ?? []).map((d) => d.runOutputName),
      body: template,
    };
    this.templates.set(name, created);
    return created;
  }
  async runTemplate(_s: string, _rg: string, name: string) {
    this.calls.push("runTemplate");
    const t = this.templates.get(name);
    if (!t) throw new Error(`no template ${name}`);
    if (t.lastRunStatus?.runState === "Running") throw new Error("already running");
    t.lastRunStatus = { runState: "Running", runSubState: "Queued", startTime: new Date() };
  }
  async cancelRun(_s: string, _rg: string, name: string) {
    this.calls.push("cancelRun");
    const t = this.templates.get(name);
    if (t?.lastRunStatus) t.lastRunStatus = { ...t.lastRunStatus, runState: "Canceled", endTime: new Date() };
  }
  async getRunOutput(_s: string, _rg: string, name: string) {
    this.calls.push("getRunOutput");
    const t = this.templates.get(name);
    const target = t?.body.distribute?.[0] as { imageId?: string } | undefined;
    return t?.lastRunStatus?.runState === "Succeeded" && target?.imageId ? { artifactId: target.imageId } : undefined;
  }
  async deleteTemplate(_s: string, _rg: string, name: string) {
    this.calls.push("deleteTemplate");
    this.templates.delete(name);
  }

  /** Test helper: ends a template's run as Image Builder would, creating the staging image on success. */
  finishRun(name: string, runState: "Succeeded" | "Failed" | "Canceled", message?: string) {
    const t = this.templates.get(name);
    if (!t) throw new Error(`no template ${name}`);
    t.lastRunStatus = {
      ...t.lastRunStatus,
      runState,
      runSubState: runState === "Failed" ? "Customizing" : "Distributing",
      message,
      endTime: new Date(),
    };
    const target = t.body.distribute?.[0] as { imageId?: string; artifactTags?: Record<string, string> } | undefined;
    if (runState === "Succeeded" && target?.imageId) {
      const { name: imageName } = parseArmId(target.imageId);
      this.gallery.managedImages.set(target.imageId.toLowerCase(), {
        id: target.imageId,
        name: imageName,
        tags: target.artifactTags ?? {},
      });
    }
  }
}

export interface SentMessage {
  queue: QueueName;
  body: Record<string, unknown>;
  messageId: string;
  scheduledEnqueueTimeUtc?: Date;
}

/** Records sends and, like Service Bus duplicate detection, drops a message id it has seen. */
export class FakeBus implements MessageSender {
  sent: SentMessage[] = [];
  private seen = new Set<string>();
  async send(
    queue: QueueName,
    body: Record<string, unknown>,
    options: { messageId: string; scheduledEnqueueTimeUtc?: Date },
  ) {
    if (this.seen.has(`${queue}/${options.messageId}`)) return;
    this.seen.add(`${queue}/${options.messageId}`);
    this.sent.push({ queue, body: structuredClone(body), ...options });
  }
  take(queue: QueueName): SentMessage[] {
    const taken = this.sent.filter((m) => m.queue === queue);
    this.sent = this.sent.filter((m) => m.queue !== queue);
    return taken;
  }
}

/** A logger that keeps its lines for assertions. */
export class MemoryLogger implements Logger {
  lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  info(message: string, fields?: Record<string, unknown>) {
    this.lines.push({ level: "info", message, fields });
  }
  warn(message: string, fields?: Record<string, unknown>) {
    this.lines.push({ level: "warn", message, fields });
  }
  error(message: string, fields?: Record<string, unknown>) {
    this.lines.push({ level: "error", message, fields });
  }
}

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public current = new Date("2026-11-23T02:00:00Z")) {}
  now() {
    return new Date(this.current);
  }
  advance(ms: number) {
    this.current = new Date(this.current.getTime() + ms);
  }
}
