import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { writeFileSync, renameSync } from "node:fs";
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
  /** Plain LRO resources report provisioningState Creating/Updating until this instant. */
  provisionedAtMs?: number;
  provisioningPhase?: "create" | "update";
  /** Gallery image versions: replication timeline. */
  replication?: VersionSimulation;
  /** Image templates: the last run, its outputs, the body it was created with, its staging resource group. */
  lastRun?: TemplateRun;
  runOutputs?: RunOutput[];
  requestBody?: unknown;
  stagingResourceGroupId?: string;
}

export interface StoredResourceGroup {
  subscriptionId: string;
  name: string;
  location: string;
  tags?: Record<string, string>;
  createdAtMs: number;
  /** Set for the staging resource groups Image Builder creates for a template (its id). */
  managedBy?: string;
}

export interface StoredOperation {
  id: string;
  provider: "compute" | "imagebuilder";
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

export interface RuleEntry<T> {
  id: string;
  rule: T;
  /** Failures still to inject. */
  remainingFailures: number;
}

interface PersistedState {
  schemaVersion: 1;
  clockOffsetMs: number;
  config: EmulatorConfig;
  versionRules: RuleEntry<VersionRule>[];
  templateRules: RuleEntry<TemplateRule>[];
  platformImages: PlatformImageSet[] | null;
  resourceGroups: StoredResourceGroup[];
  resources: StoredResource[];
  operations: StoredOperation[];
}

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

/**
 * In-memory state with indexes for nested listing, written to `<stateDir>/state.json` atomically (temp file +
 * rename) shortly after each change.
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
  /** parent key -> child keys (nested resources, and resource group -> top-level resources). */
  private readonly children = new Map<string, Set<string>>();
  /** resource group key -> keys of every resource in it, nested or not. */
  private readonly byGroup = new Map<string, Set<string>>();
  /** Templates whose last run has not been settled yet. */
  readonly activeRuns = new Set<string>();

  private readonly file: string;
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;
  private dirty = false;
  /** Serialising 10,000 versions takes tens of milliseconds: big states save less often, keeping saves under ~20%. */
  private lastSaveDurationInMs = 0;

  constructor(
    readonly stateDir: string,
    private readonly saveDelayInMs = 50,
  ) {
    this.file = path.join(stateDir, "state.json");
  }

  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  async load(): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch {
      return;
    }
    const state = JSON.parse(text) as PersistedState;
    this.clockOffsetMs = state.clockOffsetMs ?? 0;
    this.config = deepMerge(defaultConfig(), state.config);
    this.versionRules = state.versionRules ?? [];
    this.templateRules = state.templateRules ?? [];
    this.platformImages = state.platformImages ?? null;
    for (const group of state.resourceGroups)
      this.groups.set(resourceGroupKey(group.subscriptionId, group.name), group);
    for (const resource of state.resources) this.put(resource, false);
    for (const op of state.operations) this.operations.set(op.id, op);
  }

  /** Clears resources, operations, rules and configuration. */
  reset(): void {
    this.config = defaultConfig();
    this.clockOffsetMs = 0;
    this.versionRules = [];
    this.templateRules = [];
    this.platformImages = null;
    this.resources.clear();
    this.groups.clear();
    this.operations.clear();
    this.children.clear();
    this.byGroup.clear();
    this.activeRuns.clear();
    this.changed();
  }

  effectivePlatformImages(): PlatformImageSet[] {
    return this.platformImages ?? defaultPlatformImages();
  }

  get(id: string): StoredResource | undefined {
    return this.resources.get(id.toLowerCase());
  }

  put(resource: StoredResource, markChanged = true): void {
    const key = resource.id.toLowerCase();
    this.resources.set(key, resource);
    addTo(this.children, parentKeyOf(resource), key);
    addTo(this.byGroup, resourceGroupKey(resource.subscriptionId, resource.resourceGroup), key);
    if (resource.lastRun && !resource.lastRun.materialized) this.activeRuns.add(key);
    if (markChanged) this.changed();
  }

  delete(id: string): void {
    const key = id.toLowerCase();
    const resource = this.resources.get(key);
    if (!resource) return;
    this.resources.delete(key);
    this.children.get(parentKeyOf(resource))?.delete(key);
    this.children.delete(key);
    this.byGroup.get(resourceGroupKey(resource.subscriptionId, resource.resourceGroup))?.delete(key);
    this.activeRuns.delete(key);
    this.changed();
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

  hasChildren(parentKey: string): boolean {
    return (this.children.get(parentKey.toLowerCase())?.size ?? 0) > 0;
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
    this.groups.set(resourceGroupKey(group.subscriptionId, group.name), group);
    this.changed();
  }

  deleteGroup(subscriptionId: string, name: string): void {
    for (const r of this.inGroup(subscriptionId, name)) this.delete(r.id);
    this.groups.delete(resourceGroupKey(subscriptionId, name));
    this.byGroup.delete(resourceGroupKey(subscriptionId, name));
    this.children.delete(resourceGroupKey(subscriptionId, name));
    this.changed();
  }

  addOperation(op: StoredOperation): void {
    this.operations.set(op.id, op);
    if (this.operations.size > maxOperations) {
      // Maps iterate in insertion order: drop the oldest tenth.
      let drop = Math.floor(maxOperations / 10);
      for (const key of this.operations.keys()) {
        if (drop-- <= 0) break;
        this.operations.delete(key);
      }
    }
    this.changed();
  }

  /** Marks the state dirty and schedules an atomic write. */
  changed(): void {
    this.dirty = true;
    if (this.saveTimer || this.saving) return;
    this.saveTimer = setTimeout(
      () => {
        this.saveTimer = undefined;
        void this.save();
      },
      Math.max(this.saveDelayInMs, this.lastSaveDurationInMs * 4),
    );
  }

  private snapshot(): string {
    const state: PersistedState = {
      schemaVersion: 1,
      clockOffsetMs: this.clockOffsetMs,
      config: this.config,
      versionRules: this.versionRules,
      templateRules: this.templateRules,
      platformImages: this.platformImages,
      resourceGroups: [...this.groups.values()],
      resources: [...this.resources.values()],
      operations: [...this.operations.values()],
    };
    return JSON.stringify(state);
  }

  private async save(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const tmp = `${this.file}.${process.pid}.tmp`;
    this.saving = (async () => {
      const startedMs = Date.now();
      await writeFile(tmp, this.snapshot());
      await rename(tmp, this.file);
      this.lastSaveDurationInMs = Date.now() - startedMs;
    })();
    try {
      await this.saving;
    } finally {
      this.saving = undefined;
    }
    if (this.dirty) this.changed();
  }

  /** Writes pending changes now (used on stop). */
  async flush(): Promise<void> {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    if (this.saving) await this.saving.catch(() => undefined);
    if (this.dirty) {
      this.dirty = false;
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, this.snapshot());
      renameSync(tmp, this.file);
    }
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
