import { closeSync, existsSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  defaultConfig,
  defaultPlatformImages,
  deepMerge,
  type EmulatorConfig,
  type PlatformImageSet,
  type TemplateRule,
  type VersionRule,
} from "./config.js";
import type { ArmErrorBody } from "./errors.js";
import type { TemplateRun, VersionSimulation } from "./simulation.js";

export interface RunOutput {
  name: string;
  artifactId?: string;
  artifactUri?: string;
}

/** A resource as stored: user-settable fields plus the bookkeeping its simulated state is computed from. */
export interface StoredResource {
  id: string;
  type: string;
  name: string;
  location: string;
  subscriptionId: string;
  resourceGroup: string;
  tags?: Record<string, string>;
  identity?: Record<string, unknown>;
  properties: Record<string, unknown>;
  createdAtMs: number;
  updatedAtMs: number;
  /** Resources provisioned by a plain LRO report provisioningState Creating/Updating until this instant. */
  provisionedAtMs?: number;
  provisioningPhase?: "create" | "update";
  /** Set when provisioning ends Failed (at provisionedAtMs): the LRO's error and, for templates, provisioningError. */
  provisioningFailure?: { code: string; message: string; provisioningErrorCode?: string };
  /** Set while a DELETE is in progress: the resource reports Deleting and disappears at this instant. */
  deletingUntilMs?: number;
  /** Gallery image versions: replication timeline. */
  replication?: VersionSimulation;
  /** Image templates: the last run, its outputs, the body it was created with, its staging resource group. */
  lastRun?: TemplateRun;
  runOutputs?: RunOutput[];
  requestBody?: unknown;
  stagingResourceGroupId?: string;
  /** The api-version of the request that created the resource (some defaults and shapes depend on it). */
  apiVersion?: string;
  /** Versions: the create request named `osDiskImage` itself (its create answer shows it, without the size). */
  osDiskImageGiven?: boolean;
  /** Versions: the create request named `dataDiskImages` itself. */
  dataDiskImagesGiven?: boolean;
}

export interface StoredResourceGroup {
  subscriptionId: string;
  name: string;
  location: string;
  tags?: Record<string, string>;
  createdAtMs: number;
  /** Set for the staging resource groups Image Builder creates for a template (its id). */
  managedBy?: string;
  /** Set while the group is being deleted (ARM answers 202 and deletes what it holds). */
  deletingUntilMs?: number;
}

export interface StoredOperation {
  id: string;
  provider: "compute" | "imagebuilder" | "resources";
  subscriptionId: string;
  location: string;
  /** timer: done at completesAtMs; version: follows a version's replication; run/cancel: follow a template run. */
  kind: "timer" | "version" | "run" | "cancel";
  resourceKey?: string;
  runId?: string;
  startMs: number;
  completesAtMs?: number;
  error?: ArmErrorBody;
}

/** A blob of a storage account in a staging resource group (Image Builder's customization logs). */
export interface StoredBlob {
  uri: string;
  subscriptionId: string;
  resourceGroup: string;
  contentType: string;
  text: string;
  createdAtMs: number;
}

export interface RuleEntry<T> {
  id: string;
  rule: T;
  /** Failures still to inject. */
  remainingFailures: number;
}

/** State that is not a resource: small, written whole when it changes. */
interface MetaState {
  clockOffsetMs: number;
  config: EmulatorConfig;
  versionRules: RuleEntry<VersionRule>[];
  templateRules: RuleEntry<TemplateRule>[];
  platformImages: PlatformImageSet[] | null;
}

interface Snapshot extends MetaState {
  schemaVersion: 2;
  /** Journals of this generation and later hold what happened after the snapshot. */
  journalGeneration: number;
  resourceGroups: StoredResourceGroup[];
  resources: StoredResource[];
  operations: StoredOperation[];
  blobs: StoredBlob[];
}

/** One line of the journal: a value written whole, or a key removed. */
type JournalEntry =
  | { t: "meta"; v: MetaState }
  | { t: "res"; k: string; v?: StoredResource }
  | { t: "grp"; k: string; v?: StoredResourceGroup }
  | { t: "op"; k: string; v?: StoredOperation }
  | { t: "blob"; k: string; v?: StoredBlob };

export function resourceGroupKey(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourcegroups/${resourceGroup}`.toLowerCase();
}

/** Key of the parent: the enclosing resource for nested types, else the resource group. */
export function parentKeyOf(resource: StoredResource): string {
  const segments = resource.id.toLowerCase().split("/");
  const providers = segments.indexOf("providers");
  const typeDepth = (segments.length - providers - 2) / 2;
  return typeDepth > 1
    ? segments.slice(0, -2).join("/")
    : resourceGroupKey(resource.subscriptionId, resource.resourceGroup);
}

const maxOperations = 20_000;
/** A journal larger than this (and than twice the last snapshot) is folded into a new snapshot. */
const minCompactionBytes = 8 * 1024 * 1024;

/**
 * In-memory state with indexes for nested listing, made durable by an append-only journal: `commit()` writes every
 * change since the previous commit to `<stateDir>/journal-<generation>.jsonl` before the server answers, so whatever
 * the emulator acknowledged survives a crash of its process. A large journal is folded into `state.json` (temp file +
 * rename) by a background compaction, which starts the next journal generation first.
 */
export class Store {
  config: EmulatorConfig = defaultConfig();
  clockOffsetMs = 0;
  versionRules: RuleEntry<VersionRule>[] = [];
  templateRules: RuleEntry<TemplateRule>[] = [];
  /** null = the default set. */
  platformImages: PlatformImageSet[] | null = null;
  readonly resources = new Map<string, StoredResource>();
  readonly groups = new Map<string, StoredResourceGroup>();
  readonly operations = new Map<string, StoredOperation>();
  readonly blobs = new Map<string, StoredBlob>();
  /** parent key -> child keys (nested resources, and resource group -> top-level resources). */
  private readonly children = new Map<string, Set<string>>();
  /** resource group key -> keys of every resource in it, nested or not. */
  private readonly byGroup = new Map<string, Set<string>>();
  /** Templates whose last run has not been settled yet. */
  readonly activeRuns = new Set<string>();
  /** Resources being deleted (they disappear at their `deletingUntilMs`). */
  readonly deleting = new Set<string>();

  private readonly snapshotFile: string;
  private generation = 0;
  private journalFd: number | undefined;
  private journalBytes = 0;
  private lastSnapshotBytes = 0;
  private compacting: Promise<void> | undefined;
  private readonly dirtyResources = new Set<string>();
  private readonly dirtyGroups = new Set<string>();
  private readonly dirtyOperations = new Set<string>();
  private readonly dirtyBlobs = new Set<string>();
  private metaDirty = false;

  constructor(readonly stateDir: string) {
    this.snapshotFile = path.join(stateDir, "state.json");
  }

  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  private journalFile(generation: number): string {
    return path.join(this.stateDir, `journal-${generation}.jsonl`);
  }

  private journalGenerations(): number[] {
    return readdirSync(this.stateDir)
      .map((name) => /^journal-(\d+)\.jsonl$/.exec(name)?.[1])
      .filter((g): g is string => g !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Loads the snapshot and replays the journals written after it, then starts a fresh generation. */
  async load(): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    let fromGeneration = 0;
    if (existsSync(this.snapshotFile)) {
      const text = readFileSync(this.snapshotFile, "utf8");
      const state = JSON.parse(text) as Partial<Snapshot> & { resourceGroups: StoredResourceGroup[] };
      this.applyMeta({
        clockOffsetMs: state.clockOffsetMs ?? 0,
        config: state.config ?? defaultConfig(),
        versionRules: state.versionRules ?? [],
        templateRules: state.templateRules ?? [],
        platformImages: state.platformImages ?? null,
      });
      for (const group of state.resourceGroups)
        this.groups.set(resourceGroupKey(group.subscriptionId, group.name), group);
      for (const resource of state.resources ?? []) this.index(resource);
      for (const op of state.operations ?? []) this.operations.set(op.id, op);
      for (const blob of state.blobs ?? []) this.blobs.set(blob.uri.toLowerCase(), blob);
      fromGeneration = state.journalGeneration ?? 0;
    }
    for (const generation of this.journalGenerations()) {
      if (generation < fromGeneration) continue;
      this.replay(readFileSync(this.journalFile(generation), "utf8"));
      this.generation = Math.max(this.generation, generation);
    }
    // Start clean: one snapshot holding everything, one empty journal after it.
    this.generation = Math.max(this.generation, fromGeneration) + 1;
    this.writeSnapshotSync();
    this.openJournal();
    this.deleteJournalsBefore(this.generation);
  }

  private replay(text: string): void {
    for (const line of text.split("\n")) {
      if (line === "") continue;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch {
        // Only the last line can be torn (a crash in the middle of a write that was never acknowledged).
        continue;
      }
      switch (entry.t) {
        case "meta":
          this.applyMeta(entry.v);
          break;
        case "res":
          this.unindex(entry.k);
          if (entry.v) this.index(entry.v);
          break;
        case "grp":
          if (entry.v) this.groups.set(entry.k, entry.v);
          else this.groups.delete(entry.k);
          break;
        case "op":
          if (entry.v) this.operations.set(entry.k, entry.v);
          else this.operations.delete(entry.k);
          break;
        case "blob":
          if (entry.v) this.blobs.set(entry.k, entry.v);
          else this.blobs.delete(entry.k);
          break;
      }
    }
  }

  private applyMeta(meta: MetaState): void {
    this.clockOffsetMs = meta.clockOffsetMs;
    this.config = deepMerge(defaultConfig(), meta.config);
    this.versionRules = meta.versionRules;
    this.templateRules = meta.templateRules;
    this.platformImages = meta.platformImages;
  }

  private meta(): MetaState {
    return {
      clockOffsetMs: this.clockOffsetMs,
      config: this.config,
      versionRules: this.versionRules,
      templateRules: this.templateRules,
      platformImages: this.platformImages,
    };
  }

  /** Clears resources, operations, rules, blobs and configuration. */
  reset(): void {
    for (const key of this.resources.keys()) this.dirtyResources.add(key);
    for (const key of this.groups.keys()) this.dirtyGroups.add(key);
    for (const key of this.operations.keys()) this.dirtyOperations.add(key);
    for (const key of this.blobs.keys()) this.dirtyBlobs.add(key);
    this.config = defaultConfig();
    this.clockOffsetMs = 0;
    this.versionRules = [];
    this.templateRules = [];
    this.platformImages = null;
    this.resources.clear();
    this.groups.clear();
    this.operations.clear();
    this.blobs.clear();
    this.children.clear();
    this.byGroup.clear();
    this.activeRuns.clear();
    this.deleting.clear();
    this.metaDirty = true;
  }

  effectivePlatformImages(): PlatformImageSet[] {
    return this.platformImages ?? defaultPlatformImages();
  }

  get(id: string): StoredResource | undefined {
    return this.resources.get(id.toLowerCase());
  }

  private index(resource: StoredResource): void {
    const key = resource.id.toLowerCase();
    this.resources.set(key, resource);
    addTo(this.children, parentKeyOf(resource), key);
    addTo(this.byGroup, resourceGroupKey(resource.subscriptionId, resource.resourceGroup), key);
    if (resource.lastRun && !resource.lastRun.finished) this.activeRuns.add(key);
    else this.activeRuns.delete(key);
    if (resource.deletingUntilMs !== undefined) this.deleting.add(key);
    else this.deleting.delete(key);
  }

  private unindex(key: string): void {
    const resource = this.resources.get(key);
    if (!resource) return;
    this.resources.delete(key);
    this.children.get(parentKeyOf(resource))?.delete(key);
    this.children.delete(key);
    this.byGroup.get(resourceGroupKey(resource.subscriptionId, resource.resourceGroup))?.delete(key);
    this.activeRuns.delete(key);
    this.deleting.delete(key);
  }

  /** Stores (or replaces) a resource; it is journaled at the next commit. */
  put(resource: StoredResource): void {
    this.index(resource);
    this.dirtyResources.add(resource.id.toLowerCase());
  }

  /** Marks a resource changed in place (and re-indexes its run and deletion state) for the next commit. */
  touch(resource: StoredResource): void {
    this.index(resource);
    this.dirtyResources.add(resource.id.toLowerCase());
  }

  delete(id: string): void {
    const key = id.toLowerCase();
    if (!this.resources.has(key)) return;
    this.unindex(key);
    this.dirtyResources.add(key);
  }

  /** Direct children of a resource (or top-level resources of a resource group), optionally of one type. */
  childrenOf(parentKey: string, type?: string): StoredResource[] {
    const keys = this.children.get(parentKey.toLowerCase());
    if (!keys) return [];
    const out: StoredResource[] = [];
    for (const key of keys) {
      const r = this.resources.get(key);
      if (r && (type === undefined || r.type.toLowerCase() === type.toLowerCase())) out.push(r);
    }
    return out;
  }

  inGroup(subscriptionId: string, resourceGroup: string): StoredResource[] {
    const keys = this.byGroup.get(resourceGroupKey(subscriptionId, resourceGroup));
    return keys ? [...keys].flatMap((k) => this.resources.get(k) ?? []) : [];
  }

  ofType(subscriptionId: string | undefined, type: string): StoredResource[] {
    const out: StoredResource[] = [];
    const lowerType = type.toLowerCase();
    const lowerSub = subscriptionId?.toLowerCase();
    for (const r of this.resources.values()) {
      if (
        r.type.toLowerCase() === lowerType &&
        (lowerSub === undefined || r.subscriptionId.toLowerCase() === lowerSub)
      ) {
        out.push(r);
      }
    }
    return out;
  }

  getGroup(subscriptionId: string, name: string): StoredResourceGroup | undefined {
    return this.groups.get(resourceGroupKey(subscriptionId, name));
  }

  putGroup(group: StoredResourceGroup): void {
    const key = resourceGroupKey(group.subscriptionId, group.name);
    this.groups.set(key, group);
    this.dirtyGroups.add(key);
  }

  /** Deletes a resource group with everything in it (resources and blobs). */
  deleteGroup(subscriptionId: string, name: string): void {
    for (const r of this.inGroup(subscriptionId, name)) this.delete(r.id);
    for (const blob of [...this.blobs.values()]) {
      if (resourceGroupKey(blob.subscriptionId, blob.resourceGroup) === resourceGroupKey(subscriptionId, name)) {
        this.deleteBlob(blob.uri);
      }
    }
    const key = resourceGroupKey(subscriptionId, name);
    this.groups.delete(key);
    this.byGroup.delete(key);
    this.children.delete(key);
    this.dirtyGroups.add(key);
  }

  addOperation(op: StoredOperation): void {
    this.operations.set(op.id, op);
    this.dirtyOperations.add(op.id);
    if (this.operations.size > maxOperations) {
      // Maps iterate in insertion order: drop the oldest tenth.
      let drop = Math.floor(maxOperations / 10);
      for (const key of this.operations.keys()) {
        if (drop-- <= 0) break;
        this.operations.delete(key);
        this.dirtyOperations.add(key);
      }
    }
  }

  putBlob(blob: StoredBlob): void {
    const key = blob.uri.toLowerCase();
    this.blobs.set(key, blob);
    this.dirtyBlobs.add(key);
  }

  getBlob(uri: string): StoredBlob | undefined {
    return this.blobs.get(uri.toLowerCase());
  }

  deleteBlob(uri: string): void {
    const key = uri.toLowerCase();
    if (this.blobs.delete(key)) this.dirtyBlobs.add(key);
  }

  /** Marks the non-resource state (configuration, rules, platform images, clock) changed. */
  changed(): void {
    this.metaDirty = true;
  }

  private openJournal(): void {
    this.journalFd = openSync(this.journalFile(this.generation), "a");
    this.journalBytes = 0;
  }

  private pendingEntries(): JournalEntry[] {
    const entries: JournalEntry[] = [];
    if (this.metaDirty) entries.push({ t: "meta", v: this.meta() });
    for (const k of this.dirtyGroups) entries.push({ t: "grp", k, v: this.groups.get(k) });
    for (const k of this.dirtyResources) entries.push({ t: "res", k, v: this.resources.get(k) });
    for (const k of this.dirtyOperations) entries.push({ t: "op", k, v: this.operations.get(k) });
    for (const k of this.dirtyBlobs) entries.push({ t: "blob", k, v: this.blobs.get(k) });
    this.metaDirty = false;
    this.dirtyGroups.clear();
    this.dirtyResources.clear();
    this.dirtyOperations.clear();
    this.dirtyBlobs.clear();
    return entries;
  }

  /**
   * Appends every change since the last commit to the journal, synchronously: the caller answers only after this
   * returns, so an acknowledged change is in the file (it survives a SIGKILL of this process; the operating system
   * writes it to disk on its own schedule).
   */
  commit(): void {
    if (this.journalFd === undefined) return;
    const entries = this.pendingEntries();
    if (entries.length === 0) return;
    const buffer = Buffer.from(entries.map((e) => JSON.stringify(e)).join("\n") + "\n");
    let written = 0;
    while (written < buffer.length) written += writeSync(this.journalFd, buffer, written);
    this.journalBytes += buffer.length;
    if (this.compacting === undefined && this.journalBytes > Math.max(minCompactionBytes, 2 * this.lastSnapshotBytes)) {
      this.compacting = this.compact().finally(() => {
        this.compacting = undefined;
      });
    }
  }

  private snapshotText(): string {
    const snapshot: Snapshot = {
      schemaVersion: 2,
      journalGeneration: this.generation,
      ...this.meta(),
      resourceGroups: [...this.groups.values()],
      resources: [...this.resources.values()],
      operations: [...this.operations.values()],
      blobs: [...this.blobs.values()],
    };
    return JSON.stringify(snapshot);
  }

  private writeSnapshotSync(): void {
    const text = this.snapshotText();
    const tmp = `${this.snapshotFile}.${process.pid}.tmp`;
    writeSyncFile(tmp, text);
    renameSync(tmp, this.snapshotFile);
    this.lastSnapshotBytes = Buffer.byteLength(text);
  }

  private deleteJournalsBefore(generation: number): void {
    for (const g of this.journalGenerations()) if (g < generation) unlinkSync(this.journalFile(g));
  }

  /**
   * Folds the journal into a new snapshot. The next journal generation starts in the same tick as the snapshot is
   * serialised, so a crash at any point leaves either the old snapshot with both journals, or the new snapshot with
   * the new journal: both load to the same state.
   */
  private async compact(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.commit();
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.generation += 1;
    this.openJournal();
    const text = this.snapshotText();
    const tmp = `${this.snapshotFile}.${process.pid}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, this.snapshotFile);
    this.lastSnapshotBytes = Buffer.byteLength(text);
    this.deleteJournalsBefore(this.generation);
  }

  /** Commits, waits for a running compaction and closes the journal (used on stop). */
  async flush(): Promise<void> {
    this.commit();
    if (this.compacting) await this.compacting.catch(() => undefined);
    this.commit();
    if (this.journalFd !== undefined) {
      closeSync(this.journalFd);
      this.journalFd = undefined;
    }
  }
}

function writeSyncFile(file: string, text: string): void {
  const fd = openSync(file, "w");
  try {
    const buffer = Buffer.from(text);
    let written = 0;
    while (written < buffer.length) written += writeSync(fd, buffer, written);
  } finally {
    closeSync(fd);
  }
}

function addTo(index: Map<string, Set<string>>, key: string, value: string): void {
  let set = index.get(key);
  if (!set) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}
