/** setTimeout cannot wait longer than 2^31-1 ms; later deadlines re-arm on the way. */
const maxTimeoutInMs = 2_147_483_647;

interface Entry {
  at: number;
  order: number;
  run: () => void;
}

/**
 * The emulator's clock: real time, unless a test paused it (time then stands still) or moved it forward. Azure's own
 * clock cannot be moved; this one exists so that tests of locks, schedules and expiry need not wait or race the wall
 * clock, as the ARM emulator's `/_emulator/clock`.
 */
export class EmulatorClock {
  #offsetInMs = 0;
  #pausedAt: number | undefined;

  now(): number {
    return (this.#pausedAt ?? Date.now()) + this.#offsetInMs;
  }

  /** Stops time: nothing expires or becomes due until {@link advance}. */
  pause(): void {
    this.#pausedAt ??= Date.now();
  }

  advance(byMs: number): void {
    if (!(byMs >= 0)) throw new RangeError(`the clock only moves forward (asked ${byMs} ms)`);
    this.#offsetInMs += byMs;
  }
}

/**
 * Every time-based duty of the broker (lock expiry, scheduled enqueue, message expiry) in one min-heap behind a single
 * timer. Entries are never removed: a callback checks on firing whether it still applies (a renewed lock, a cancelled
 * schedule), which keeps cancellation O(1).
 */
export class TimerQueue {
  private readonly heap: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Infinity;
  private order = 0;
  private stopped = false;

  constructor(private readonly now: () => number = Date.now) {}

  /** Runs `run` at (or soon after) `at` ms since the epoch. */
  at(at: number, run: () => void): void {
    if (this.stopped || !Number.isFinite(at)) return;
    this.push({ at, order: this.order++, run });
    if (at < this.armedAt) this.arm();
  }

  get size(): number {
    return this.heap.length;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.heap.length = 0;
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.heap[0];
    if (!next) {
      this.armedAt = Infinity;
      return;
    }
    this.armedAt = next.at;
    const delay = Math.min(Math.max(0, next.at - this.now()), maxTimeoutInMs);
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  /** Runs every entry that is due now (after the clock moved), then re-arms. */
  runDue(): void {
    this.fire();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedAt = Infinity;
    const now = this.now();
    while (!this.stopped && this.heap.length > 0 && (this.heap[0] as Entry).at <= now) {
      const entry = this.pop();
      try {
        entry.run();
      } catch (error) {
        console.error("servicebus emulator: timer task failed", error);
      }
    }
    if (!this.stopped) this.arm();
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  private push(entry: Entry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i] as Entry, h[parent] as Entry)) break;
      [h[i], h[parent]] = [h[parent] as Entry, h[i] as Entry];
      i = parent;
    }
  }

  private pop(): Entry {
    const h = this.heap;
    const top = h[0] as Entry;
    const last = h.pop() as Entry;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < h.length && this.less(h[l] as Entry, h[smallest] as Entry)) smallest = l;
        if (r < h.length && this.less(h[r] as Entry, h[smallest] as Entry)) smallest = r;
        if (smallest === i) break;
        [h[i], h[smallest]] = [h[smallest] as Entry, h[i] as Entry];
        i = smallest;
      }
    }
    return top;
  }
}

/** A min-heap of numbers (sequence numbers of available messages). */
export class NumberHeap {
  private readonly h: number[] = [];

  get size(): number {
    return this.h.length;
  }

  peek(): number | undefined {
    return this.h[0];
  }

  push(value: number): void {
    const h = this.h;
    h.push(value);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as number) <= value) break;
      h[i] = h[parent] as number;
      i = parent;
    }
    h[i] = value;
  }

  pop(): number | undefined {
    const h = this.h;
    if (h.length === 0) return undefined;
    const top = h[0] as number;
    const last = h.pop() as number;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && (h[r] as number) < (h[l] as number) ? r : l;
        if ((h[c] as number) >= last) break;
        h[i] = h[c] as number;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
