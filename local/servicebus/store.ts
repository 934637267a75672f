import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
  ftruncateSync,
} from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { HeaderFields } from "./amqp.js";

/**
 * The broker's durable state: an append-only log of idempotent records, flushed with group commit (every record
 * waiting when a flush starts shares one write and one fdatasync) and rewritten from memory at start and when it
 * grows. A torn record at the end (kill -9 mid-write) fails its CRC and is cut off on replay.
 *
 * Frame: u32 length of the rest, u32 CRC-32 of the payload, payload = u8 kind, u32 JSON length, JSON, blob.
 */

/** A message as persisted: the metadata, and a blob of its annotations section followed by its bare message. */
export interface PersistedMessage {
  seq: number;
  id: string;
  /** Enqueued time, ms since the epoch. */
  enq: number;
  /** Expiry, ms since the epoch; null = never. */
  exp: number | null;
  /** Scheduled enqueue time. */
  sch?: number;
  dc: number;
  st: MessageStateCode;
  sub: SubQueueCode;
  hdr: HeaderFields;
  alen: number;
}

/** a = active, d = deferred, s = scheduled. */
export type MessageStateCode = "a" | "d" | "s";
/** m = the queue itself, d = its dead-letter queue. */
export type SubQueueCode = "m" | "d";

export type LogRecord =
  | { kind: "put"; queue: string; message: PersistedMessage; blob: Buffer }
  | { kind: "state"; queue: string; seq: number; dc: number; st: MessageStateCode }
  | { kind: "delete"; queue: string; seq: number }
  | { kind: "dedupe"; queue: string; id: string; until: number; seq: number }
  | { kind: "next"; queue: string; seq: number };

const kindCodes = { put: 1, state: 2, delete: 3, dedupe: 4, next: 5 } as const;
const kindsByCode = ["", "put", "state", "delete", "dedupe", "next"] as const;

function encodeRecord(record: LogRecord): Buffer {
  let meta: unknown;
  let blob: Buffer | undefined;
  switch (record.kind) {
    case "put":
      meta = { q: record.queue, m: record.message };
      blob = record.blob;
      break;
    case "state":
      meta = { q: record.queue, s: record.seq, dc: record.dc, st: record.st };
      break;
    case "delete":
      meta = { q: record.queue, s: record.seq };
      break;
    case "dedupe":
      meta = { q: record.queue, id: record.id, u: record.until, s: record.seq };
      break;
    case "next":
      meta = { q: record.queue, s: record.seq };
      break;
  }
  const json = Buffer.from(JSON.stringify(meta), "utf8");
  const blobLength = blob?.length ?? 0;
  const frame = Buffer.allocUnsafe(8 + 5 + json.length + blobLength);
  frame.writeUInt32BE(5 + json.length + blobLength, 0);
  frame.writeUInt8(kindCodes[record.kind], 8);
  frame.writeUInt32BE(json.length, 9);
  json.copy(frame, 13);
  if (blob) blob.copy(frame, 13 + json.length);
  frame.writeUInt32BE(crc32(frame.subarray(8)), 4);
  return frame;
}

function decodeRecord(payload: Buffer): LogRecord {
  const kind = kindsByCode[payload.readUInt8(0)];
  const jsonLength = payload.readUInt32BE(1);
  const meta = JSON.parse(payload.subarray(5, 5 + jsonLength).toString("utf8")) as {
    q: string;
    m: PersistedMessage;
    s: number;
    dc: number;
    st: MessageStateCode;
    id: string;
    u: number;
  };
  const q = meta.q;
  switch (kind) {
    case "put":
      return { kind, queue: q, message: meta.m, blob: Buffer.from(payload.subarray(5 + jsonLength)) };
    case "state":
      return { kind, queue: q, seq: meta.s, dc: meta.dc, st: meta.st };
    case "delete":
      return { kind, queue: q, seq: meta.s };
    case "dedupe":
      return { kind, queue: q, id: meta.id, until: meta.u, seq: meta.s };
    case "next":
      return { kind, queue: q, seq: meta.s };
    default:
      throw new Error("unknown record kind");
  }
}

const logFileName = "servicebus.log";

/** Append-only, fsynced record log in `stateDir`. */
export class MessageLog {
  private handle: FileHandle | undefined;
  private pending: Buffer[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private flushing: Promise<void> | undefined;
  private sizeInBytes = 0;
  private closed = false;
  /** Called between flushes once the log has outgrown its live content; returns the records to rewrite it with. */
  snapshot: (() => LogRecord[]) | undefined;
  private compactAboveInBytes: number;

  private constructor(
    private readonly path: string,
    private readonly minCompactionSizeInBytes: number,
  ) {
    this.compactAboveInBytes = minCompactionSizeInBytes;
  }

  /**
   * Opens (creating) the log in `stateDir` and replays it through `apply`, cutting off a torn tail.
   * @param minCompactionSizeInBytes - the log is rewritten when it exceeds this and twice its size after the last rewrite
   */
  static async open(
    stateDir: string,
    apply: (record: LogRecord) => void,
    minCompactionSizeInBytes = 64 * 1024 * 1024,
  ): Promise<MessageLog> {
    mkdirSync(stateDir, { recursive: true });
    const log = new MessageLog(join(stateDir, logFileName), minCompactionSizeInBytes);
    let data: Buffer;
    try {
      data = readFileSync(log.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      data = Buffer.alloc(0);
    }
    let offset = 0;
    while (offset + 8 <= data.length) {
      const length = data.readUInt32BE(offset);
      const end = offset + 8 + length;
      if (length < 5 || end > data.length) break;
      const payload = data.subarray(offset + 8, end);
      if (crc32(payload) !== data.readUInt32BE(offset + 4)) break;
      apply(decodeRecord(payload));
      offset = end;
    }
    if (offset < data.length) {
      // A write cut short by a crash: it was never acknowledged, so it is dropped.
      const fd = openSync(log.path, "r+");
      ftruncateSync(fd, offset);
      fsyncSync(fd);
      closeSync(fd);
    }
    log.sizeInBytes = offset;
    log.handle = await open(log.path, "a");
    return log;
  }

  /** Appends records; resolves once they are on disk. */
  append(...records: LogRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the message log is closed"));
    // Nothing to write: wait only for what is already on its way to disk.
    if (records.length === 0) return this.flushing ? this.flushing.then(() => undefined) : Promise.resolve();
    for (const record of records) this.pending.push(encodeRecord(record));
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.flushing) this.flushing = this.flushLoop();
    return done;
  }

  /** Appends records without waiting for the disk (the caller does not acknowledge anything on them). */
  record(...records: LogRecord[]): void {
    this.append(...records).catch((error: unknown) => {
      if (!this.closed) console.error("servicebus emulator: log write failed", error);
    });
  }

  private async flushLoop(): Promise<void> {
    // Let the current turn of the event loop add its records to this flush.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.pending.length > 0 && this.handle) {
      const buffers = this.pending;
      const waiters = this.waiters;
      this.pending = [];
      this.waiters = [];
      try {
        await this.handle.writev(buffers);
        await this.handle.datasync();
        for (const b of buffers) this.sizeInBytes += b.length;
        for (const w of waiters) w.resolve();
      } catch (error) {
        for (const w of waiters) w.reject(error as Error);
      }
      if (this.snapshot && this.sizeInBytes > this.compactAboveInBytes) {
        // Let the writers just acknowledged apply their changes to memory before memory is written out.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.pending.length === 0) await this.rewriteNow(this.snapshot());
      }
    }
    this.flushing = undefined;
  }

  /** Replaces the log with `records` (written to a new file, synced, renamed over the old one). */
  async rewrite(records: LogRecord[]): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.rewriteNow(records);
  }

  private async rewriteNow(records: LogRecord[]): Promise<void> {
    const temp = `${this.path}.tmp`;
    const fd = openSync(temp, "w");
    let size = 0;
    try {
      let chunk: Buffer[] = [];
      let chunkSize = 0;
      for (const record of records) {
        const frame = encodeRecord(record);
        chunk.push(frame);
        chunkSize += frame.length;
        if (chunkSize > 1024 * 1024) {
          size += writeSync(fd, Buffer.concat(chunk));
          chunk = [];
          chunkSize = 0;
        }
      }
      if (chunk.length) size += writeSync(fd, Buffer.concat(chunk));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await this.handle?.close();
    renameSync(temp, this.path);
    const dirFd = openSync(join(this.path, ".."), "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.handle = await open(this.path, "a");
    this.sizeInBytes = statSync(this.path).size;
    this.compactAboveInBytes = Math.max(this.minCompactionSizeInBytes, 2 * size);
  }

  /** Waits for pending records, then closes the file. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.closed = true;
    await this.handle?.close();
    this.handle = undefined;
  }
}
