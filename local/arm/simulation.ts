import { runSubStates, type PhaseDurations, type RunSubState } from "./config.js";

/**
 * Simulated time: every state below is computed from stored timestamps at read time, so nothing runs on timers,
 * state survives restarts, and reading costs a few additions.
 */

/** One replication attempt of one target region. */
export interface RegionReplication {
  /** Display name, as echoed in `replicationStatus.summary[].region`. */
  region: string;
  startMs: number;
  durationMs: number;
  /** Set when this attempt is scripted to fail (at its end). */
  failureMessage?: string;
  /** The rule that made this attempt fail, when that rule keeps failing same-region retries. */
  stickyRuleId?: string;
  /**
   * Set when this attempt changes the replica count of a region that already holds the version: its earlier replicas
   * keep serving VMs and `latest` while replicas are added or removed [V20].
   */
  servedBefore?: boolean;
}

export interface VersionSimulation {
  /** `create` reports provisioningState Creating while replicating, `update` reports Updating. */
  phase: "create" | "update";
  regions: RegionReplication[];
  /**
   * Regions removed from the version while their replication was Failed by a sticky rule (normalized name -> rule
   * id): adding such a region back is the re-add that rule waits for.
   */
  removedWhileFailed?: Record<string, string>;
}

export type RegionState = "Replicating" | "Completed" | "Failed";

export interface RegionStatus {
  region: string;
  state: RegionState;
  details: string;
  progress: number;
}

export function regionStatus(replication: RegionReplication, nowMs: number): RegionStatus {
  const endMs = replication.startMs + replication.durationMs;
  if (nowMs >= endMs) {
    return replication.failureMessage !== undefined
      ? { region: replication.region, state: "Failed", details: replication.failureMessage, progress: 0 }
      : { region: replication.region, state: "Completed", details: "", progress: 100 };
  }
  const elapsed = Math.max(0, nowMs - replication.startMs);
  const progress =
    replication.durationMs === 0 ? 0 : Math.min(99, Math.floor((100 * elapsed) / replication.durationMs));
  return { region: replication.region, state: "Replicating", details: "", progress };
}

export interface VersionStatus {
  provisioningState: "Creating" | "Updating" | "Succeeded" | "Failed";
  aggregatedState: "InProgress" | "Completed" | "Failed";
  summary: RegionStatus[];
  /** When the last region reaches a terminal state. */
  settlesAtMs: number;
}

export function versionStatus(simulation: VersionSimulation, nowMs: number): VersionStatus {
  const summary = simulation.regions.map((r) => regionStatus(r, nowMs));
  const settlesAtMs = Math.max(0, ...simulation.regions.map((r) => r.startMs + r.durationMs));
  const replicating = summary.some((s) => s.state === "Replicating");
  const failed = summary.some((s) => s.state === "Failed");
  if (replicating) {
    return {
      provisioningState: simulation.phase === "create" ? "Creating" : "Updating",
      aggregatedState: "InProgress",
      summary,
      settlesAtMs,
    };
  }
  return failed
    ? { provisioningState: "Failed", aggregatedState: "Failed", summary, settlesAtMs }
    : { provisioningState: "Succeeded", aggregatedState: "Completed", summary, settlesAtMs };
}

/** What one distribution target of a run produced. */
export interface DistributionOutcome {
  runOutputName: string;
  /** Index in the template's `distribute` array (Image Builder's messages name it). */
  index: number;
  ok: boolean;
  message?: string;
  artifactId?: string;
  artifactUri?: string;
}

/** One Image Builder run. */
export interface TemplateRun {
  runId: string;
  operationId: string;
  startMs: number;
  phases: { subState: RunSubState; durationMs: number }[];
  /** Set when the run is scripted to fail at the end of this sub-state. */
  failure?: { subState: RunSubState; message: string };
  /** runOutputNames whose distribution is scripted to fail. */
  failingDistributions?: string[];
  cancelRequestedMs?: number;
  cancelDurationMs: number;
  /** Written when the run reaches Distributing: what each target produced and when the last one settles. */
  distribution?: { endMs: number; outcomes: DistributionOutcome[] };
  /** Set once a terminal run has been settled (its customization log written). */
  finished: boolean;
  /** The customization log of this run (a blob in the staging resource group's storage account). */
  logUri?: string;
}

export type RunState = "Running" | "Canceling" | "Succeeded" | "PartiallySucceeded" | "Failed" | "Canceled";

export interface RunStatus {
  runState: RunState;
  runSubState?: RunSubState;
  startMs: number;
  endMs?: number;
  message: string;
}

function phaseStart(run: TemplateRun, subState: RunSubState): number | undefined {
  let t = run.startMs;
  for (const phase of run.phases) {
    if (phase.subState === subState) return t;
    t += phase.durationMs;
  }
  return undefined;
}

/** When Distributing starts (undefined when the run is scripted to fail before it). */
export function distributingStartMs(run: TemplateRun): number | undefined {
  if (run.failure && run.failure.subState !== "Distributing") return undefined;
  return phaseStart(run, "Distributing");
}

/** When the run would end on its own (success, scripted failure or distribution), ignoring cancellation. */
export function naturalEnd(run: TemplateRun): { endMs: number; failed: boolean; lastSubState: RunSubState } {
  let t = run.startMs;
  let last: RunSubState = "Queued";
  for (const phase of run.phases) {
    t += phase.durationMs;
    last = phase.subState;
    if (run.failure?.subState === phase.subState) return { endMs: t, failed: true, lastSubState: last };
  }
  if (run.distribution) t = Math.max(t, run.distribution.endMs);
  return { endMs: t, failed: false, lastSubState: last };
}

function subStateAt(run: TemplateRun, atMs: number): RunSubState {
  let t = run.startMs;
  for (const phase of run.phases) {
    t += phase.durationMs;
    if (atMs < t) return phase.subState;
  }
  return run.phases[run.phases.length - 1]?.subState ?? "Queued";
}

/** Image Builder's message for distributions that failed (troubleshooting doc, "waiting for Azure Compute Gallery"). */
export function distributionFailureMessage(outcomes: DistributionOutcome[]): string {
  const failed = outcomes.filter((o) => !o.ok);
  const errors = failed.map((o, i) => `[Error ${i}] [Distribute ${o.index}] ${o.message ?? ""}`).join(" ");
  return `Failed in distributing ${failed.length} images out of total ${outcomes.length}: {${errors}}`;
}

export function runStatus(run: TemplateRun, nowMs: number): RunStatus {
  const natural = naturalEnd(run);
  const cancelAt = run.cancelRequestedMs;
  if (cancelAt !== undefined && cancelAt < natural.endMs) {
    const canceledAt = cancelAt + run.cancelDurationMs;
    if (nowMs < canceledAt) {
      return { runState: "Canceling", startMs: run.startMs, message: "Canceling image build" };
    }
    return {
      runState: "Canceled",
      runSubState: subStateAt(run, cancelAt),
      startMs: run.startMs,
      endMs: canceledAt,
      message: "The image build was canceled.",
    };
  }
  if (nowMs < natural.endMs || (!natural.failed && !run.distribution && distributingStartMs(run) !== undefined)) {
    return { runState: "Running", runSubState: subStateAt(run, nowMs), startMs: run.startMs, message: "" };
  }
  if (natural.failed) {
    return {
      runState: "Failed",
      runSubState: natural.lastSubState,
      startMs: run.startMs,
      endMs: natural.endMs,
      message: run.failure?.message ?? "",
    };
  }
  const outcomes = run.distribution?.outcomes ?? [];
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length === 0) return { runState: "Succeeded", startMs: run.startMs, endMs: natural.endMs, message: "" };
  return {
    runState: failed.length === outcomes.length ? "Failed" : "PartiallySucceeded",
    runSubState: "Distributing",
    startMs: run.startMs,
    endMs: natural.endMs,
    message: distributionFailureMessage(outcomes),
  };
}

/** Whether a region of the version can serve VMs (and `latest`) now: replicated, or changing its replica count [V20]. */
export function regionServes(replication: RegionReplication, nowMs: number): boolean {
  return replication.servedBefore === true || regionStatus(replication, nowMs).state === "Completed";
}

export function isTerminalRunState(state: RunState): boolean {
  return state === "Succeeded" || state === "PartiallySucceeded" || state === "Failed" || state === "Canceled";
}

/** The phases a run walks; Optimizing only when the template asks for VM boot optimization. */
export function runPhases(durations: PhaseDurations, optimize: boolean): TemplateRun["phases"] {
  return runSubStates
    .filter((s) => s !== "Optimizing" || optimize)
    .map((subState) => ({ subState, durationMs: durations[subState] }));
}
