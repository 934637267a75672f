import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/** An event as the topic accepted it, in arrival order. */
export interface ReceivedEvent {
  /** 1, 2, 3... in arrival order (a position in the topic's record, not an Event Grid concept). */
  n: number;
  receivedAt: string;
  /** The CloudEvent as published (structured JSON). */
  event: Record<string, unknown>;
}

/**
 * The events a topic accepted, kept in arrival order in `events.jsonl` (one JSON object per line, appended
 * synchronously before the publisher is answered 200, so an event answered 200 survives a kill).
 */
export class EventRecord {
  private readonly file: string;
  private readonly events: ReceivedEvent[] = [];
  private readonly listeners = new Set<(event: ReceivedEvent) => void>();

  constructor(stateDir: string) {
    mkdirSync(stateDir, { recursive: true });
    this.file = path.join(stateDir, "events.jsonl");
    try {
      for (const line of readFileSync(this.file, "utf8").split("\n")) {
        if (line.trim()) this.events.push(JSON.parse(line) as ReceivedEvent);
      }
    } catch {
      // No record yet.
    }
  }

  /** Appends accepted events (one batch: written together). */
  append(batch: Record<string, unknown>[], now: Date): ReceivedEvent[] {
    const added = batch.map((event, i) => ({
      n: this.events.length + i + 1,
      receivedAt: now.toISOString(),
      event,
    }));
    if (added.length === 0) return added;
    appendFileSync(this.file, added.map((e) => `${JSON.stringify(e)}\n`).join(""));
    this.events.push(...added);
    for (const event of added) for (const listener of this.listeners) listener(event);
    return added;
  }

  /** Events after position `after` (0: all). */
  list(after = 0): ReceivedEvent[] {
    return this.events.slice(Math.max(0, after));
  }

  /** Forgets every event: the record starts again at 1. */
  clear(): void {
    this.events.length = 0;
    writeFileSync(this.file, "");
  }

  /** Calls `listener` with every event accepted from now on; returns the unsubscribe. */
  subscribe(listener: (event: ReceivedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
