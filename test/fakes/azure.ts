import { queues, type MessageOf, type QueueName } from "../../shared/messages/index.js";
import type { PipelineEvent } from "../../shared/events/schema.js";
import { UsageUnavailableError } from "../../shared/errors.js";
import type {
  EventPublisher,
  FleetMember,
  FleetUsage,
  FleetReadOptions,
  FleetUsageReader,
  GalleryClient,
  ImageBuilderClient,
  ImageDefinitionRef,
  ImageDefinitionSpec,
  ImageTemplateSpec,
  Logger,
  MessageSender,
  SourceImageFacts,
  TemplateSummary,
  VersionDetails,
  VersionUpdate,
} from "../../shared/ports.js";

/**
 * Hand-written fakes of the ports: an in-memory gallery and Image Builder whose state tests set and inspect
 * directly. They answer like the adapters do (undefined for a missing resource), nothing more.
 */

const key = (ref: ImageDefinitionRef) => `${ref.subscriptionId}/${ref.resourceGroup}/${ref.gallery}/${ref.definition}`;

export class FakeGallery implements GalleryClient {
  definitions = new Map<string, { location?: string; tags: Record<string, string> }>();
  versions = new Map<string, Map<string, VersionDetails>>();
  platformVersions: string[] = ["24.04.202410010", "24.04.202411030"];
  /** What describeSourceImage answers beyond the exact version (tests set a generation, OS type...). */
  sourceFacts: Omit<SourceImageFacts, "exactVersion"> = {};
  calls: string[] = [];

  async getImageDefinition(ref: ImageDefinitionRef) {
    this.calls.push("getImageDefinition");
    return this.definitions.get(key(ref));
  }
  async createImageDefinition(ref: ImageDefinitionRef, definition: ImageDefinitionSpec) {
    this.calls.push("createImageDefinition");
    this.definitions.set(key(ref), { location: definition.location, tags: definition.tags });
  }
  async updateImageDefinitionTags(ref: ImageDefinitionRef, tags: Record<string, string>) {
    this.calls.push("updateImageDefinitionTags");
    const existing = this.definitions.get(key(ref));
    this.definitions.set(key(ref), { ...existing, tags });
  }
  async listVersions(ref: ImageDefinitionRef) {
    this.calls.push("listVersions");
    return [...(this.versions.get(key(ref))?.values() ?? [])].map(({ replication: _r, ...summary }) => summary);
  }
  async getVersion(ref: ImageDefinitionRef, version: string) {
    this.calls.push("getVersion");
    return this.versions.get(key(ref))?.get(version);
  }
  /** Test helper (and what Image Builder's SharedImage distribution does): a version in its home region only. */
  distributeVersion(
    ref: ImageDefinitionRef,
    version: string,
    input: { location: string; tags: Record<string, string>; publishedDate?: Date },
  ) {
    const versions = this.versions.get(key(ref)) ?? new Map<string, VersionDetails>();
    this.versions.set(key(ref), versions);
    versions.set(version, {
      name: version,
      location: input.location,
      provisioningState: "Succeeded",
      publishedDate: input.publishedDate ?? new Date(),
      excludeFromLatest: true,
      targetRegions: [{ name: input.location, regionalReplicaCount: 1 }],
      tags: input.tags,
      replication: {
        aggregatedState: "Completed",
        summary: [{ region: input.location, state: "Completed", progress: 100 }],
      },
    });
  }
  updates: { version: string; update: VersionUpdate; wait: boolean }[] = [];
  async updateVersion(ref: ImageDefinitionRef, version: string, update: VersionUpdate, options: { wait: boolean }) {
    this.calls.push("updateVersion");
    this.updates.push({ version, update: structuredClone(update), wait: options.wait });
    const v = this.versions.get(key(ref))?.get(version);
    if (!v) throw new Error(`no version ${version}`);
    if (update.tags) v.tags = update.tags;
    if (update.excludeFromLatest !== undefined) v.excludeFromLatest = update.excludeFromLatest;
    if (update.endOfLifeDate !== undefined) v.endOfLifeDate = update.endOfLifeDate;
    if (update.targetRegions) {
      const before = new Set(v.targetRegions.map((r) => r.name));
      v.targetRegions = update.targetRegions.map((r) => ({ ...r }));
      // New regions start replicating; kept ones keep their state; dropped ones leave the status.
      const summary = (v.replication?.summary ?? []).filter((s) => v.targetRegions.some((r) => r.name === s.region));
      for (const r of v.targetRegions) {
        if (!before.has(r.name)) summary.push({ region: r.name, state: "Replicating", progress: 0 });
      }
      v.replication = { aggregatedState: "InProgress", summary };
      if (v.targetRegions.some((r) => !before.has(r.name))) v.provisioningState = "Updating";
    }
  }
  async deleteVersion(ref: ImageDefinitionRef, version: string) {
    this.calls.push("deleteVersion");
    this.versions.get(key(ref))?.delete(version);
  }
  async describeSourceImage() {
    this.calls.push("describeSourceImage");
    return { exactVersion: this.platformVersions.at(-1), ...this.sourceFacts };
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
  templates = new Map<string, TemplateSummary & { body: ImageTemplateSpec }>();
  calls: string[] = [];
  constructor(
    private readonly gallery: FakeGallery,
    private readonly clock: { now(): Date } = { now: () => new Date() },
  ) {}

  async getTemplate(_s: string, _rg: string, name: string) {
    this.calls.push("getTemplate");
    return this.templates.get(name);
  }
  async listTemplates() {
    this.calls.push("listTemplates");
    return [...this.templates.values()];
  }
  async createTemplate(_s: string, _rg: string, name: string, template: ImageTemplateSpec) {
    this.calls.push("createTemplate");
    if (this.templates.has(name)) throw Object.assign(new Error("update not supported"), { statusCode: 409 });
    const created = {
      name,
      location: template.location,
      tags: { ...template.tags },
      provisioningState: "Succeeded" as const,
      body: template,
    };
    this.templates.set(name, created);
  }
  async updateTemplateTags(_s: string, _rg: string, name: string, tags: Record<string, string>) {
    this.calls.push("updateTemplateTags");
    const t = this.templates.get(name);
    if (!t) throw new Error(`no template ${name}`);
    t.tags = { ...tags };
  }
  async runTemplate(_s: string, _rg: string, name: string) {
    this.calls.push("runTemplate");
    const t = this.templates.get(name);
    if (!t) throw new Error(`no template ${name}`);
    if (t.lastRunStatus?.runState === "Running") throw new Error("already running");
    t.lastRunStatus = { runState: "Running", runSubState: "Queued", startTime: this.clock.now() };
  }
  async cancelRun(_s: string, _rg: string, name: string) {
    this.calls.push("cancelRun");
    const t = this.templates.get(name);
    if (t?.lastRunStatus) t.lastRunStatus = { ...t.lastRunStatus, runState: "Canceled", endTime: this.clock.now() };
  }
  async deleteTemplate(_s: string, _rg: string, name: string) {
    this.calls.push("deleteTemplate");
    this.templates.delete(name);
  }

  /**
   * Test helper: ends a template's run as Image Builder would; on success its SharedImage distributor has written the
   * version to its home region (with the distributor's artifact tags).
   */
  finishRun(name: string, runState: "Succeeded" | "Failed" | "Canceled", message?: string) {
    const t = this.templates.get(name);
    if (!t) throw new Error(`no template ${name}`);
    t.lastRunStatus = {
      ...t.lastRunStatus,
      runState,
      runSubState: runState === "Failed" ? "Customizing" : "Distributing",
      message,
      endTime: this.clock.now(),
    };
    const target = t.body.distribute[0];
    if (runState === "Succeeded" && target) {
      const m =
        /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/galleries\/([^/]+)\/images\/([^/]+)\/versions\/([^/]+)$/i.exec(
          target.galleryImageId,
        );
      if (!m) throw new Error(`not a version id: ${target.galleryImageId}`);
      const [, subscriptionId, resourceGroup, gallery, definition, version] = m as unknown as string[];
      this.gallery.distributeVersion(
        { subscriptionId: subscriptionId!, resourceGroup: resourceGroup!, gallery: gallery!, definition: definition! },
        version!,
        { location: target.targetRegions[0]!.name, tags: { ...target.artifactTags }, publishedDate: this.clock.now() },
      );
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
  async send<Q extends QueueName>(queue: Q, message: MessageOf<Q>, options: { scheduledEnqueueTimeUtc?: Date } = {}) {
    // The id the real sender derives from the queue's contract.
    const messageId = (queues[queue] as { messageId(m: MessageOf<Q>): string }).messageId(message);
    if (this.seen.has(`${queue}/${messageId}`)) return;
    this.seen.add(`${queue}/${messageId}`);
    this.sent.push({ queue, body: structuredClone(message) as Record<string, unknown>, messageId, ...options });
  }
  take(queue: QueueName): SentMessage[] {
    const taken = this.sent.filter((m) => m.queue === queue);
    this.sent = this.sent.filter((m) => m.queue !== queue);
    return taken;
  }
}

/** An Event Grid topic in memory: keeps what it was sent; `fail` makes the next sends throw the given errors. */
export class FakeEventPublisher implements EventPublisher {
  published: PipelineEvent[] = [];
  fail: unknown[] = [];
  async publish(events: readonly PipelineEvent[]) {
    const error = this.fail.shift();
    if (error) throw error;
    this.published.push(...structuredClone(events));
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

/** The fleet as a test sets it: members, or why it cannot be read; counts the sweeps. */
export class FakeFleet implements FleetUsageReader {
  members: FleetMember[] = [];
  /** Set: every sweep fails with this reason (403, throttled...). */
  unavailable?: string;
  sweeps: string[][] = [];
  /** The freshness each read asked for (`maxAgeInMs`, undefined for a new sweep). */
  maxAges: (number | undefined)[] = [];

  async readUsage(subscriptionIds: readonly string[], options: FleetReadOptions = {}): Promise<FleetUsage> {
    this.sweeps.push([...subscriptionIds]);
    this.maxAges.push(options.maxAgeInMs);
    if (this.unavailable !== undefined) throw new UsageUnavailableError(this.unavailable);
    return { readAt: new Date(), subscriptionIds: [...subscriptionIds], members: this.members.map((m) => ({ ...m })) };
  }
}
