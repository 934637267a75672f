import { randomUUID } from "node:crypto";
import {
  encodeForDelivery,
  withApplicationProperties,
  type BrokerAnnotations,
  type HeaderFields,
  type IncomingMessage,
} from "./amqp.js";
import type { QueueSettings } from "./config.js";
import type { LogRecord, MessageLog, MessageStateCode, PersistedMessage } from "./store.js";
import { EmulatorClock, NumberHeap, TimerQueue } from "./timers.js";

/** AMQP error conditions the SDK maps to its error codes. */
export const conditions = {
  lockLost: "com.microsoft:message-lock-lost",
  messageNotFound: "com.microsoft:message-not-found",
  entityNotFound: "amqp:not-found",
  notAllowed: "amqp:not-allowed",
  messageSizeExceeded: "amqp:link:message-size-exceeded",
  quotaExceeded: "amqp:resource-limit-exceeded",
  invalidField: "amqp:invalid-field",
  decodeError: "amqp:decode-error",
  internalError: "amqp:internal-error",
} as const;

const statusByCondition: Record<string, number> = {
  [conditions.lockLost]: 410,
  [conditions.messageNotFound]: 404,
  [conditions.entityNotFound]: 404,
  [conditions.notAllowed]: 400,
  [conditions.messageSizeExceeded]: 413,
  [conditions.quotaExceeded]: 403,
  [conditions.invalidField]: 400,
  [conditions.decodeError]: 400,
};

/** A refusal the client sees as an AMQP error (`condition`) or a management status code. */
export class BrokerError extends Error {
  readonly code = "BrokerError";
  constructor(
    readonly condition: string,
    description: string,
  ) {
    super(description);
    this.name = "BrokerError";
  }
  get statusCode(): number {
    return statusByCondition[this.condition] ?? 500;
  }
}

export type SubQueue = "main" | "deadLetter";
export type MessageState = "active" | "deferred" | "scheduled";
export type ReceiveMode = "peekLock" | "receiveAndDelete";

/** The dead-letter reasons and descriptions the service itself writes. */
export const systemDeadLetterReasons = {
  maxDeliveryCountExceeded: "MaxDeliveryCountExceeded",
  ttlExpired: "TTLExpiredException",
  maxDeliveryCountDescription: (max: number) => `Message could not be consumed after ${max} delivery attempts.`,
  ttlExpiredDescription: "The message expired and was dead lettered.",
} as const;

interface Lock {
  token: string;
  /** The token's 16 bytes in RFC 4122 order. */
  bytes: Buffer;
  lockedUntil: number;
  message: StoredMessage;
}

interface StoredMessage {
  queue: Queue;
  seq: number;
  messageId: string;
  enqueuedAt: number;
  expiresAt: number;
  scheduledAt: number | undefined;
  deliveryCount: number;
  state: MessageState;
  sub: SubQueue;
  header: HeaderFields;
  annotations: Buffer;
  bare: Buffer;
  lock: Lock | undefined;
}

/** A queue or its dead-letter queue: what a receiver link or a management link addresses. */
export class Entity {
  readonly messages = new Map<number, StoredMessage>();
  readonly available = new NumberHeap();
  constructor(
    readonly queue: Queue,
    readonly sub: SubQueue,
  ) {}
  get path(): string {
    return this.sub === "main" ? this.queue.settings.name : `${this.queue.settings.name}/$DeadLetterQueue`;
  }
}

class Queue {
  readonly main: Entity;
  readonly deadLetter: Entity;
  nextSeq = 1;
  readonly dedupe = new Map<string, { until: number; seq: number }>();
  sizeInBytes = 0;
  constructor(readonly settings: QueueSettings) {
    this.main = new Entity(this, "main");
    this.deadLetter = new Entity(this, "deadLetter");
  }
  entity(sub: SubQueue): Entity {
    return sub === "main" ? this.main : this.deadLetter;
  }
}

/** A message handed to a receiver. */
export interface Delivered {
  encoded: Buffer;
  /** Peek-lock only. */
  lockToken?: string;
  lockTokenBytes?: Buffer;
  /**
   * Peek-lock only: resolves once the lock is on disk. Transfer the message only then, so that a lock lost to a crash
   * or a restart of the emulator still counts as a delivery attempt.
   */
  written?: Promise<void>;
}

/** Properties a client may set when settling (abandon/defer/dead-letter "propertiesToModify"). */
export type PropertiesToModify = Record<string, unknown>;

export type Settlement =
  | { kind: "complete" }
  | { kind: "abandon"; propertiesToModify?: PropertiesToModify }
  | { kind: "release" }
  | { kind: "defer"; propertiesToModify?: PropertiesToModify }
  | { kind: "deadLetter"; reason?: string; description?: string; propertiesToModify?: PropertiesToModify };

/** Counts of one queue (see the emulator's `stats`). */
export interface QueueStats {
  /** Messages ready for or held by a receiver (locked ones included), as Azure's activeMessageCount. */
  active: number;
  scheduled: number;
  deadLettered: number;
  deferred: number;
  /** Messages under a peek-lock, in the queue or its dead-letter queue. */
  locked: number;
}

const stateCodes: Record<MessageState, MessageStateCode> = { active: "a", deferred: "d", scheduled: "s" };
const statesByCode: Record<MessageStateCode, MessageState> = { a: "active", d: "deferred", s: "scheduled" };

/**
 * The queues, their messages, locks and timers: Service Bus semantics without any AMQP plumbing. Every change is
 * recorded in the {@link MessageLog}; operations a client waits on resolve only once their records are on disk.
 */
export class Broker {
  private readonly queues = new Map<string, Queue>();
  private readonly locks = new Map<string, Lock>();
  readonly clock: EmulatorClock;
  private readonly timers: TimerQueue;
  private readonly pendingNotify = new Set<Entity>();
  private log: MessageLog | undefined;
  /** Called (coalesced, on a later tick) when messages may be available on an entity. */
  onAvailable: (entity: Entity) => void = () => undefined;

  constructor(settings: readonly QueueSettings[], clock = new EmulatorClock()) {
    this.clock = clock;
    this.timers = new TimerQueue(() => clock.now());
    for (const s of settings) this.queues.set(s.name.toLowerCase(), new Queue(s));
  }

  /** Replays one log record into memory (before {@link attachLog}). */
  replay(record: LogRecord): void {
    const queue = this.queues.get(record.queue.toLowerCase());
    if (!queue) return; // a queue no longer declared: its messages are dropped at the next rewrite
    switch (record.kind) {
      case "put": {
        const m = record.message;
        for (const e of [queue.main, queue.deadLetter]) {
          const old = e.messages.get(m.seq);
          if (old) {
            e.messages.delete(m.seq);
            queue.sizeInBytes -= old.bare.length;
          }
        }
        const message: StoredMessage = {
          queue,
          seq: m.seq,
          messageId: m.id,
          enqueuedAt: m.enq,
          expiresAt: m.exp ?? Infinity,
          scheduledAt: m.sch,
          deliveryCount: m.dc,
          state: statesByCode[m.st],
          sub: m.sub === "d" ? "deadLetter" : "main",
          header: m.hdr,
          annotations: record.blob.subarray(0, m.alen),
          bare: record.blob.subarray(m.alen),
          lock: undefined,
        };
        queue.entity(message.sub).messages.set(m.seq, message);
        queue.sizeInBytes += message.bare.length;
        queue.nextSeq = Math.max(queue.nextSeq, m.seq + 1);
        break;
      }
      case "state": {
        const message = queue.main.messages.get(record.seq) ?? queue.deadLetter.messages.get(record.seq);
        if (message) {
          message.deliveryCount = record.dc;
          message.state = statesByCode[record.st];
        }
        break;
      }
      case "delete": {
        for (const e of [queue.main, queue.deadLetter]) {
          const old = e.messages.get(record.seq);
          if (old) {
            e.messages.delete(record.seq);
            queue.sizeInBytes -= old.bare.length;
          }
        }
        queue.nextSeq = Math.max(queue.nextSeq, record.seq + 1);
        break;
      }
      case "dedupe":
        queue.dedupe.delete(record.id);
        queue.dedupe.set(record.id, { until: record.until, seq: record.seq });
        break;
      case "next":
        queue.nextSeq = Math.max(queue.nextSeq, record.seq);
        break;
    }
  }

  /**
   * Starts serving: indexes replayed messages, arms their timers and rewrites the log compactly. Locks do not survive
   * a restart: a message that was locked is replayed with the delivery its lost lock counts for (see {@link hand}), so
   * one that has now reached the queue's maxDeliveryCount goes to the dead-letter queue, as after a lock expiry.
   */
  async attachLog(log: MessageLog): Promise<void> {
    this.log = log;
    const now = this.clock.now();
    for (const queue of this.queues.values()) {
      this.purgeDedupe(queue, now);
      const max = queue.settings.maxDeliveryCount;
      const seqsByEntity = [queue.main, queue.deadLetter].map(
        (entity) => [entity, [...entity.messages.keys()].sort((a, b) => a - b)] as const,
      );
      for (const [entity, seqs] of seqsByEntity) {
        for (const seq of seqs) {
          const message = entity.messages.get(seq) as StoredMessage;
          if (message.sub === "main" && message.state !== "scheduled" && message.deliveryCount >= max) {
            this.moveToDeadLetter(
              message,
              systemDeadLetterReasons.maxDeliveryCountExceeded,
              systemDeadLetterReasons.maxDeliveryCountDescription(max),
            );
            continue;
          }
          this.index(message);
        }
      }
    }
    log.snapshot = () => this.snapshot();
    await log.rewrite(this.snapshot());
  }

  private snapshot(): LogRecord[] {
    const records: LogRecord[] = [];
    const now = this.clock.now();
    for (const queue of this.queues.values()) {
      const name = queue.settings.name;
      records.push({ kind: "next", queue: name, seq: queue.nextSeq });
      this.purgeDedupe(queue, now);
      for (const [id, d] of queue.dedupe) records.push({ kind: "dedupe", queue: name, id, until: d.until, seq: d.seq });
      for (const entity of [queue.main, queue.deadLetter]) {
        for (const message of entity.messages.values()) records.push(this.putRecord(message));
      }
    }
    return records;
  }

  private putRecord(m: StoredMessage): LogRecord {
    const message: PersistedMessage = {
      seq: m.seq,
      id: m.messageId,
      enq: m.enqueuedAt,
      exp: Number.isFinite(m.expiresAt) ? m.expiresAt : null,
      ...(m.scheduledAt !== undefined ? { sch: m.scheduledAt } : {}),
      dc: persistedDeliveryCount(m),
      st: stateCodes[m.state],
      sub: m.sub === "main" ? "m" : "d",
      hdr: m.header,
      alen: m.annotations.length,
    };
    return { kind: "put", queue: m.queue.settings.name, message, blob: Buffer.concat([m.annotations, m.bare]) };
  }

  private stateRecord(m: StoredMessage): LogRecord {
    return {
      kind: "state",
      queue: m.queue.settings.name,
      seq: m.seq,
      dc: persistedDeliveryCount(m),
      st: stateCodes[m.state],
    };
  }

  private deleteRecord(m: StoredMessage): LogRecord {
    return { kind: "delete", queue: m.queue.settings.name, seq: m.seq };
  }

  private get durable(): MessageLog {
    if (!this.log) throw new Error("broker is not started");
    return this.log;
  }

  /** Finds a queue or dead-letter queue by address (`name`, `name/$DeadLetterQueue`), case-insensitively. */
  entity(address: string): Entity | undefined {
    const match = /^(.*?)(\/\$deadletterqueue)?$/i.exec(address);
    const queue = this.queues.get((match?.[1] ?? address).toLowerCase());
    if (!queue) return undefined;
    return match?.[2] ? queue.deadLetter : queue.main;
  }

  settingsOf(entity: Entity): QueueSettings {
    return entity.queue.settings;
  }

  stop(): void {
    this.timers.stop();
  }

  // ---- sending ------------------------------------------------------------------------------------------------

  /**
   * Accepts messages sent to a queue (one transfer: a message or a batch, all or nothing). Duplicates of a message id
   * seen within the window are accepted and dropped. Resolves once durable; the messages become visible then.
   * @returns the sequence number of each message (the original's for a duplicate)
   */
  async send(entity: Entity, messages: IncomingMessage[], forceScheduledAt?: number): Promise<number[]> {
    if (entity.sub !== "main") {
      throw new BrokerError(conditions.notAllowed, `Cannot send to the dead-letter queue '${entity.path}'.`);
    }
    const queue = entity.queue;
    const settings = queue.settings;
    if (queue.sizeInBytes + messages.reduce((n, m) => n + m.bare.length, 0) > settings.maxSizeInBytes) {
      throw new BrokerError(
        conditions.quotaExceeded,
        `The maximum entity size has been reached or exceeded for Queue: '${settings.name}'. Size of entity in bytes:${queue.sizeInBytes}, Max entity size in bytes: ${settings.maxSizeInBytes}.`,
      );
    }
    const now = this.clock.now();
    const records: LogRecord[] = [];
    const created: StoredMessage[] = [];
    const seqs: number[] = [];
    if (settings.requiresDuplicateDetection) this.purgeDedupe(queue, now);
    for (const m of messages) {
      if (settings.requiresDuplicateDetection) {
        const seen = queue.dedupe.get(m.messageId);
        if (seen) {
          seqs.push(seen.seq);
          continue;
        }
      }
      const seq = queue.nextSeq++;
      seqs.push(seq);
      const scheduledAt = forceScheduledAt ?? m.scheduledEnqueueTimeInMs;
      const scheduled = scheduledAt !== undefined && scheduledAt > now;
      const enqueuedAt = scheduled ? scheduledAt : now;
      const message: StoredMessage = {
        queue,
        seq,
        messageId: m.messageId,
        enqueuedAt,
        expiresAt: enqueuedAt + Math.min(m.header.ttlInMs ?? Infinity, settings.defaultMessageTimeToLiveInMs),
        scheduledAt,
        deliveryCount: 0,
        state: scheduled ? "scheduled" : "active",
        sub: "main",
        header: m.header,
        annotations: m.annotations,
        bare: m.bare,
        lock: undefined,
      };
      if (settings.requiresDuplicateDetection) {
        const until = now + settings.duplicateDetectionHistoryTimeWindowInMs;
        queue.dedupe.set(m.messageId, { until, seq });
        records.push({ kind: "dedupe", queue: settings.name, id: m.messageId, until, seq });
      }
      records.push(this.putRecord(message));
      created.push(message);
    }
    queue.sizeInBytes += created.reduce((n, m) => n + m.bare.length, 0);
    // Even an all-duplicate send waits for the log: the original it duplicates may still be on its way to disk.
    await this.durable.append(...records);
    for (const message of created) {
      entity.messages.set(message.seq, message);
      this.index(message);
    }
    return seqs;
  }

  /** Cancels scheduled messages; sequence numbers that are not (or no longer) scheduled are ignored. */
  async cancelScheduled(entity: Entity, seqs: number[]): Promise<void> {
    const records: LogRecord[] = [];
    for (const seq of seqs) {
      const message = entity.messages.get(seq);
      if (message && message.state === "scheduled") {
        this.remove(message);
        records.push(this.deleteRecord(message));
      }
    }
    if (records.length > 0) await this.durable.append(...records);
  }

  /** Arms timers and the available index for a message now in memory. */
  private index(message: StoredMessage): void {
    const entity = message.queue.entity(message.sub);
    if (message.state === "scheduled") {
      const scheduledAt = message.scheduledAt ?? 0;
      if (scheduledAt <= this.clock.now()) this.activate(message);
      else this.timers.at(scheduledAt, () => this.activate(message));
      return;
    }
    if (message.sub === "main" && Number.isFinite(message.expiresAt)) {
      this.timers.at(message.expiresAt, () => this.expireIfDue(message));
    }
    if (message.state === "active") {
      entity.available.push(message.seq);
      this.notify(entity);
    }
  }

  private activate(message: StoredMessage): void {
    const entity = message.queue.entity(message.sub);
    if (entity.messages.get(message.seq) !== message || message.state !== "scheduled") return;
    message.state = "active";
    this.durable.record(this.stateRecord(message));
    this.index(message);
  }

  private isCurrent(message: StoredMessage): boolean {
    return message.queue.entity(message.sub).messages.get(message.seq) === message;
  }

  /** Deferred messages do not expire: the service keeps them until they are received by sequence number. */
  private expireIfDue(message: StoredMessage): void {
    if (!this.isCurrent(message) || message.sub !== "main" || message.lock || message.state !== "active") return;
    if (message.expiresAt > this.clock.now()) return;
    this.expire(message);
  }

  private expire(message: StoredMessage): void {
    if (message.queue.settings.deadLetteringOnMessageExpiration) {
      this.durable.record(
        this.moveToDeadLetter(
          message,
          systemDeadLetterReasons.ttlExpired,
          systemDeadLetterReasons.ttlExpiredDescription,
        ),
      );
    } else {
      this.remove(message);
      this.durable.record(this.deleteRecord(message));
    }
  }

  private remove(message: StoredMessage): void {
    const entity = message.queue.entity(message.sub);
    if (entity.messages.get(message.seq) === message) {
      entity.messages.delete(message.seq);
      message.queue.sizeInBytes -= message.bare.length;
    }
    if (message.lock) {
      this.locks.delete(message.lock.token);
      message.lock = undefined;
    }
  }

  /** Moves a message to its queue's dead-letter queue; returns the record to log. */
  private moveToDeadLetter(
    message: StoredMessage,
    reason: string | undefined,
    description: string | undefined,
    propertiesToModify: PropertiesToModify = {},
  ): LogRecord {
    const queue = message.queue;
    this.remove(message);
    message.bare = withApplicationProperties(message.bare, {
      ...propertiesToModify,
      ...(reason != null ? { DeadLetterReason: reason } : {}),
      ...(description != null ? { DeadLetterErrorDescription: description } : {}),
    });
    message.sub = "deadLetter";
    message.state = "active";
    queue.deadLetter.messages.set(message.seq, message);
    queue.sizeInBytes += message.bare.length;
    queue.deadLetter.available.push(message.seq);
    this.notify(queue.deadLetter);
    return this.putRecord(message);
  }

  private notify(entity: Entity): void {
    if (this.pendingNotify.size === 0) {
      setImmediate(() => {
        const entities = [...this.pendingNotify];
        this.pendingNotify.clear();
        for (const e of entities) this.onAvailable(e);
      });
    }
    this.pendingNotify.add(entity);
  }

  private purgeDedupe(queue: Queue, now: number): void {
    for (const [id, d] of queue.dedupe) {
      if (d.until > now) break; // insertion order is time order
      queue.dedupe.delete(id);
    }
  }

  // ---- receiving ----------------------------------------------------------------------------------------------

  /** Whether a receiver on `entity` would get a message now. */
  hasAvailable(entity: Entity): boolean {
    return entity.available.size > 0;
  }

  /** Takes the next available message for a receiver: locks it (peek-lock) or removes it (receive-and-delete). */
  receiveNext(entity: Entity, mode: ReceiveMode): Delivered | undefined {
    const now = this.clock.now();
    for (;;) {
      const seq = entity.available.pop();
      if (seq === undefined) return undefined;
      const message = entity.messages.get(seq);
      if (!message || message.state !== "active" || message.lock) continue; // stale index entry
      if (message.sub === "main" && message.expiresAt <= now) {
        this.expire(message);
        continue;
      }
      return this.hand(message, mode, now);
    }
  }

  private hand(message: StoredMessage, mode: ReceiveMode, now: number): Delivered {
    if (mode === "receiveAndDelete") {
      this.remove(message);
      this.durable.record(this.deleteRecord(message));
      return { encoded: this.encode(message, undefined) };
    }
    const bytes = Buffer.from(randomUUID().replace(/-/g, ""), "hex");
    const token = uuidText(bytes);
    const lock: Lock = { token, bytes, lockedUntil: now + message.queue.settings.lockDurationInMs, message };
    message.lock = lock;
    this.locks.set(token, lock);
    this.timers.at(lock.lockedUntil, () => this.lockExpired(lock));
    // The log keeps a locked message with the delivery count its lock leaves behind if it is lost: a restart loses
    // every lock, and a lost lock counts as a delivery attempt as an expired one does. Settling writes the count again.
    const written = this.durable.append(this.stateRecord(message));
    return { encoded: this.encode(message, lock), lockToken: token, lockTokenBytes: bytes, written };
  }

  private encode(message: StoredMessage, lock: Lock | undefined): Buffer {
    const annotations: BrokerAnnotations = {
      sequenceNumber: message.seq,
      enqueuedTimeInMs: message.enqueuedAt,
      messageState: message.state === "deferred" ? 1 : message.state === "scheduled" ? 2 : 0,
      ...(lock ? { lockedUntilInMs: lock.lockedUntil, lockToken: lock.bytes } : {}),
      ...(message.scheduledAt !== undefined ? { scheduledEnqueueTimeInMs: message.scheduledAt } : {}),
    };
    return encodeForDelivery(message, message.deliveryCount, annotations);
  }

  private lockExpired(lock: Lock): void {
    const message = lock.message;
    if (message.lock !== lock || lock.lockedUntil > this.clock.now()) return;
    // A lock that runs out counts as a delivery, like an abandon.
    this.durable.record(...this.release(message, true));
  }

  /** Ends a lock and puts the message back (or to the dead-letter queue); returns the records to log. */
  private release(
    message: StoredMessage,
    countsAsDelivery: boolean,
    propertiesToModify?: PropertiesToModify,
  ): LogRecord[] {
    if (message.lock) {
      this.locks.delete(message.lock.token);
      message.lock = undefined;
    }
    if (countsAsDelivery) message.deliveryCount++;
    const modified = propertiesToModify !== undefined && Object.keys(propertiesToModify).length > 0;
    if (modified) {
      const before = message.bare.length;
      message.bare = withApplicationProperties(message.bare, propertiesToModify);
      message.queue.sizeInBytes += message.bare.length - before;
    }
    const max = message.queue.settings.maxDeliveryCount;
    if (message.sub === "main" && message.deliveryCount >= max) {
      return [
        this.moveToDeadLetter(
          message,
          systemDeadLetterReasons.maxDeliveryCountExceeded,
          systemDeadLetterReasons.maxDeliveryCountDescription(max),
        ),
      ];
    }
    if (message.sub === "main" && message.state === "active" && message.expiresAt <= this.clock.now()) {
      this.expire(message);
      return [];
    }
    if (message.state === "active") {
      const entity = message.queue.entity(message.sub);
      entity.available.push(message.seq);
      this.notify(entity);
    }
    return [modified ? this.putRecord(message) : this.stateRecord(message)];
  }

  private validLock(token: string): Lock {
    const lock = this.locks.get(token.toLowerCase());
    if (!lock || lock.message.lock !== lock) {
      throw new BrokerError(
        conditions.lockLost,
        "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.",
      );
    }
    if (lock.lockedUntil <= this.clock.now()) {
      this.lockExpired(lock);
      throw new BrokerError(
        conditions.lockLost,
        "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.",
      );
    }
    return lock;
  }

  /** Settles a peek-locked message; resolves once durable. */
  async settle(token: string, settlement: Settlement): Promise<void> {
    const lock = this.validLock(token);
    const message = lock.message;
    let records: LogRecord[];
    switch (settlement.kind) {
      case "complete":
        this.remove(message);
        records = [this.deleteRecord(message)];
        break;
      case "abandon":
        records = this.release(message, true, settlement.propertiesToModify);
        break;
      case "release":
        records = this.release(message, false);
        break;
      case "defer":
        message.state = "deferred";
        records = this.release(message, false, settlement.propertiesToModify);
        break;
      case "deadLetter":
        if (message.sub === "deadLetter") {
          throw new BrokerError(conditions.notAllowed, "Cannot dead-letter a message in a dead-letter queue.");
        }
        records = [
          this.moveToDeadLetter(message, settlement.reason, settlement.description, settlement.propertiesToModify),
        ];
        break;
    }
    if (records.length > 0) await this.durable.append(...records);
  }

  /** Moves the emulator's clock forward and runs what became due (lock expiry, scheduled enqueue, expiry). */
  advanceClock(byMs: number): void {
    this.clock.advance(byMs);
    this.timers.runDue();
  }

  /** Extends a lock by the queue's lock duration. */
  renewLock(token: string): number {
    const lock = this.validLock(token);
    lock.lockedUntil = this.clock.now() + lock.message.queue.settings.lockDurationInMs;
    this.timers.at(lock.lockedUntil, () => this.lockExpired(lock));
    return lock.lockedUntil;
  }

  /** Messages from `fromSeq` on, in sequence order, without locking them (every state). */
  peek(entity: Entity, fromSeq: number, count: number): Buffer[] {
    const seqs = [...entity.messages.keys()].filter((s) => s >= fromSeq).sort((a, b) => a - b);
    return seqs.slice(0, count).map((seq) => {
      const message = entity.messages.get(seq) as StoredMessage;
      return this.encode(message, message.lock);
    });
  }

  /** Receives deferred messages by sequence number. */
  receiveDeferred(entity: Entity, seqs: number[], mode: ReceiveMode): Delivered[] {
    const now = this.clock.now();
    for (const seq of seqs) {
      const lock = entity.messages.get(seq)?.lock;
      if (lock && lock.lockedUntil <= now) this.lockExpired(lock); // its timer has not fired yet
    }
    const messages = seqs.map((seq) => {
      const message = entity.messages.get(seq);
      if (!message || message.state !== "deferred") {
        throw new BrokerError(
          conditions.messageNotFound,
          `Failed to lock one or more specified messages. Either the message with sequence number ${seq} is not deferred, or it does not exist.`,
        );
      }
      if (message.lock) {
        throw new BrokerError(conditions.lockLost, `The message with sequence number ${seq} is already locked.`);
      }
      return message;
    });
    return messages.map((message) => this.hand(message, mode, now));
  }

  /** Counts for one queue. */
  stats(queueName: string): QueueStats {
    const queue = this.queues.get(queueName.toLowerCase());
    if (!queue)
      throw new BrokerError(conditions.entityNotFound, `The messaging entity '${queueName}' could not be found.`);
    const stats: QueueStats = {
      active: 0,
      scheduled: 0,
      deadLettered: queue.deadLetter.messages.size,
      deferred: 0,
      locked: 0,
    };
    for (const m of queue.main.messages.values()) {
      if (m.state === "active") stats.active++;
      else if (m.state === "deferred") stats.deferred++;
      else stats.scheduled++;
      if (m.lock) stats.locked++;
    }
    for (const m of queue.deadLetter.messages.values()) if (m.lock) stats.locked++;
    return stats;
  }
}

/** The delivery count a message has if the emulator stops now: a lock held now is lost, which counts as a delivery. */
function persistedDeliveryCount(m: StoredMessage): number {
  return m.deliveryCount + (m.lock ? 1 : 0);
}

/** A 16-byte UUID (RFC 4122 order) as text. */
export function uuidText(bytes: Buffer): string {
  const h = bytes.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
