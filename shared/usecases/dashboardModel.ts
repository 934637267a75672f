/*
 * The dashboard's read model: what `GET /api/dashboard/data` returns and the page renders. Plain types with no
 * imports, so that the browser code (dashboard/, compiled without Node's types) shares them with the use-case.
 *
 * Optional fields are either facts Azure did not report, or facts later features fill (usage per version, progressive
 * rollout per region, the log of a failed build, trace links): the page renders their absence.
 */

/** Everything the dashboard shows, read from Azure in one pass. */
export interface Dashboard {
  /** When the pass that produced this model started (ISO 8601). */
  readAt: string;
  /** How long the server reuses one read, and so how often the page asks again. */
  refreshAfterInSeconds: number;
  summary: DashboardSummary;
  /** In catalog order. */
  images: DashboardImage[];
  /** What could not be read for every image (e.g. the template list), in sentences. */
  warnings?: string[];
}

/** Figures across every image of the catalog. */
export interface DashboardSummary {
  images: number;
  /** Images whose read failed (each carries its `error`). */
  imagesUnreadable: number;
  versions: number;
  /** Versions per state (`promoted`, `replicating`, `failed`, `unmanaged`, `unknown`). */
  versionsByState: Record<string, number>;
  buildsInFlight: number;
  /** Failures recorded on the image definitions (the few newest per image). */
  recentFailures: number;
  /** Versions the next prune run would delete. */
  pendingDeletions: number;
  /** Target regions, over all images, where `latest` resolves to no version. */
  regionsWithoutLatest: number;
  /** Versions whose end of life has passed, still in the gallery. */
  pastEndOfLife: number;
  /** Instances running any version, when usage is known for at least one image. */
  instances?: number;
}

/** One image of the catalog. */
export interface DashboardImage {
  image: string;
  /** The catalog's description of the image definition. */
  description?: string;
  osType: string;
  gallery: string;
  definition: string;
  /** False when the image definition does not exist yet (no build has run). */
  exists: boolean;
  /** The columns of the grid: the catalog's target regions, then any other region a version targets. */
  regions: DashboardRegion[];
  /** The version `latest` resolves to without a region (the highest not excluded from latest). */
  latest?: string;
  /** Newest first. */
  versions: DashboardVersion[];
  retention: DashboardRetention;
  /** Builds not finished: building, publishing or replicating. */
  builds: DashboardBuild[];
  /** Newest first. */
  failures: DashboardFailure[];
  /** Instances per version, when a usage source is configured. */
  usage?: { instances: number; readAt?: string };
  /** Why the image could not be read; the other images are unaffected. */
  error?: string;
}

/** A column of the grid. */
export interface DashboardRegion {
  /** As the catalog writes it (`westeurope`), or as Azure does for a region the catalog no longer targets. */
  name: string;
  /** True for a target region of the catalog entry. */
  target: boolean;
  /** The version `latest` resolves to in this region; absent when none does. */
  latest?: string;
  /** Progressive rollout: the version meant to get `latest` in this region in a later wave. */
  rolloutTarget?: string;
}

/** One gallery image version. */
export interface DashboardVersion {
  name: string;
  /** The pipeline's state tag: `promoted`, `replicating`, `failed`; `unmanaged` for versions it did not create. */
  state: string;
  provisioningState?: string;
  buildId?: string;
  commit?: string;
  ref?: string;
  requestedBy?: string;
  publishedDate?: string;
  endOfLifeDate?: string;
  excludeFromLatest: boolean;
  /** One per column of the image's `regions`, in the same order; null where the version does not target the region. */
  cells: (DashboardCell | null)[];
  /** What the next prune run does with this version, and why. */
  retention: { action: "delete" | "keep"; code: string; reason: string };
  /** Instances running this version, when usage is known. */
  instances?: number;
  /** Link to the build's trace, when tracing is configured. */
  traceUrl?: string;
}

/**
 * One version in one region it targets. Defaults are left out (a flag is there only when true): at 10,000 cells, the
 * page to read gets smaller by every field that says nothing.
 */
export interface DashboardCell {
  /**
   * `Completed`, `Replicating`, `Failed` or `Unknown` as Azure reports it. Read per region only for versions still
   * replicating; for the others it is inferred from provisioningState `Succeeded`, and absent otherwise.
   */
  state?: string;
  /** True when `state` was read from the version's replication status; absent when inferred. */
  observed?: true;
  progress?: number;
  details?: string;
  replicaCount?: number;
  /** True when this version is kept out of `latest` in this region (globally or for the region). */
  excludedFromLatest?: true;
  /** True when `latest` resolves to this version in this region. */
  latest?: true;
}

/** The retention plan of the next prune run (a dry run of it: nothing is deleted by reading it). */
export interface DashboardRetention {
  /** True when pruning only reports (setting or catalog): the plan is not carried out. */
  dryRun: boolean;
  endOfLifeDays: number;
  keepLatest: number;
  minAgeDays: number;
  maxDeletionsPerRun: number;
  /** In the order the pruner deletes them. */
  deletions: { version: string; code: string; reason: string }[];
}

/** A build not finished. */
export interface DashboardBuild {
  buildId: string;
  version?: string;
  commit?: string;
  stage: "building" | "publishing" | "replicating";
  /** Image Builder's run state and sub-state while building. */
  runState?: string;
  runSubState?: string;
  message?: string;
  startTime?: string;
  /** Mean replication progress over the target regions (0..100) while replicating. */
  progress?: number;
  traceUrl?: string;
}

/** A failed build. */
export interface DashboardFailure {
  buildId: string;
  /** When the failure was recorded (ISO 8601); empty when unknown. */
  at: string;
  reason: string;
  version?: string;
  /** Where the build's customization log can be read, when it was kept. */
  logUri?: string;
  traceUrl?: string;
}
