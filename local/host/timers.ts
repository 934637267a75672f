import type { Timer, TimerFunctionOptions } from "@azure/functions";
import type { Invoker } from "./invocation.js";

/** The first occurrence of an NCRONTAB `expression` strictly after `after` (shared/domain/ncrontab's signature). */
export type NextOccurrence = (expression: string, after: Date) => Date;

/** A timer function with its schedule resolved from settings. */
export interface TimerFunction {
  name: string;
  options: TimerFunctionOptions;
  /** The NCRONTAB expression after `%SETTING%` resolution. */
  schedule: string;
}

interface TimerState {
  fn: TimerFunction;
  /** The run in progress (scheduled or manual); cleared when it ends. */
  running: Promise<void> | undefined;
  /** Scheduled time of the last run. */
  last: Date | undefined;
  handle: NodeJS.Timeout | undefined;
}

// setTimeout takes at most a signed 32-bit delay; longer waits are chained.
const maxTimeoutInMs = 2 ** 31 - 1;
// A tick this late (event loop blocked, machine asleep) is reported as past due, as the real host does.
const pastDueAfterInMs = 1000;
// What the real host reports as `last` before a timer's first run (.NET DateTime.MinValue).
const neverRun = "0001-01-01T00:00:00.000Z";

/**
 * Fires timer functions on their NCRONTAB schedules. One run at a time per timer, like the host's singleton lock:
 * a tick that comes while the previous run is still going is skipped (and logged). A failing run is logged and the
 * schedule goes on.
 */
export class TimerScheduler {
  readonly #states = new Map<string, TimerState>();
  readonly #invoker: Invoker;
  readonly #nextOccurrence: NextOccurrence;
  #stopped = false;

  constructor(functions: readonly TimerFunction[], invoker: Invoker, nextOccurrence: NextOccurrence) {
    this.#invoker = invoker;
    this.#nextOccurrence = nextOccurrence;
    for (const fn of functions)
      this.#states.set(fn.name, { fn, running: undefined, last: undefined, handle: undefined });
  }

  /** Arms every schedule and starts the `runOnStartup` timers. */
  start(): void {
    for (const state of this.#states.values()) {
      const next = this.#nextOccurrence(state.fn.schedule, new Date());
      this.#invoker.log(
        "information",
        `Timer '${state.fn.name}' (${state.fn.schedule}): next run ${next.toISOString()}`,
        {
          event: "timer.scheduled",
          functionName: state.fn.name,
        },
      );
      this.#arm(state, next);
      if (state.fn.options.runOnStartup) void this.#run(state, new Date(), false, "Timer fired at host start-up");
    }
  }

  /** Whether a timer function of this name exists. */
  has(name: string): boolean {
    return this.#states.has(name);
  }

  /**
   * Runs a timer function now (CLI, tests, `POST /admin/functions/{name}`). Waits for a run in progress to end
   * first, as the singleton lock would. Resolves when the run ended; a failing run is logged, not thrown.
   */
  async invoke(name: string): Promise<void> {
    const state = this.#states.get(name);
    if (!state) throw new Error(`no timer function named '${name}'`);
    while (state.running) await state.running;
    await this.#run(state, new Date(), false, "This function was programmatically called via the host APIs.");
  }

  /** Disarms every schedule (runs in progress go on; the invoker's drain waits for them). */
  stop(): void {
    this.#stopped = true;
    for (const state of this.#states.values()) clearTimeout(state.handle);
  }

  #arm(state: TimerState, due: Date): void {
    if (this.#stopped) return;
    const delay = due.getTime() - Date.now();
    state.handle = setTimeout(
      () => {
        if (due.getTime() - Date.now() > 0) this.#arm(state, due);
        else this.#tick(state, due);
      },
      Math.min(Math.max(delay, 0), maxTimeoutInMs),
    );
  }

  #tick(state: TimerState, scheduledAt: Date): void {
    // The next tick is armed from the schedule, not from the run's end, so a long run cannot shift the schedule.
    this.#arm(state, this.#nextOccurrence(state.fn.schedule, scheduledAt));
    if (state.running) {
      this.#invoker.log(
        "warning",
        `Timer '${state.fn.name}': the run due at ${scheduledAt.toISOString()} was skipped, the previous run is still going`,
        { event: "timer.skipped", functionName: state.fn.name },
      );
      return;
    }
    const isPastDue = Date.now() - scheduledAt.getTime() > pastDueAfterInMs;
    void this.#run(state, scheduledAt, isPastDue, `Timer fired at ${new Date().toISOString()}`);
  }

  #run(state: TimerState, scheduledAt: Date, isPastDue: boolean, reason: string): Promise<void> {
    const { fn } = state;
    const now = new Date();
    const timer: Timer = {
      isPastDue,
      schedule: { adjustForDST: true },
      scheduleStatus: {
        last: state.last?.toISOString() ?? neverRun,
        next: this.#nextOccurrence(fn.schedule, now).toISOString(),
        lastUpdated: now.toISOString(),
      },
    };
    state.last = scheduledAt;
    const run = this.#invoker
      .invoke(
        {
          functionName: fn.name,
          trigger: {
            type: "timerTrigger",
            name: "timerTrigger",
            schedule: fn.options.schedule,
            ...(fn.options.runOnStartup === undefined ? {} : { runOnStartup: fn.options.runOnStartup }),
            ...(fn.options.useMonitor === undefined ? {} : { useMonitor: fn.options.useMonitor }),
          },
          reason,
        },
        (context) => fn.options.handler(timer, context),
      )
      .then(() => undefined);
    state.running = run.finally(() => {
      state.running = undefined;
    });
    return state.running;
  }
}
