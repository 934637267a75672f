import { randomUUID } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import rhea from "rhea";
import type { Connection, Container, Delivery, EventContext, Message, Receiver, Sender } from "rhea";
import {
  amqpTypes,
  batchMessageFormat,
  encodeMessage,
  installRawMessageCapture,
  lockTokenToDeliveryTag,
  MessageDecodeError,
  parseMessage,
  rawMessageBytes,
  splitBatch,
} from "./amqp.js";
import {
  BrokerError,
  conditions,
  type Broker,
  type Delivered,
  type Entity,
  type ReceiveMode,
  type Settlement,
} from "./broker.js";
import { handleManagementRequest } from "./management.js";

/** Standard tier: 256 KB per message (and per batch). */
export const maxMessageSizeInBytes = 256 * 1024;

/** The parts of rhea's link state the broker has to drive by hand (drain echo, settle modes, buffer). */
interface RheaLinkInternals {
  local: { attach: { snd_settle_mode?: number; rcv_settle_mode?: number; max_message_size?: number } };
  credit: number;
  delivery_count: number;
  _draining: boolean;
  _get_drain(): boolean;
  issue_flow: boolean;
  session: { outgoing: { available(): number } };
  connection: { _register(): void };
}

interface MutableDelivery {
  remote_settled: boolean;
}

/** A client's receiver: the broker's sending link on a queue or dead-letter queue. */
interface ReceiveLink {
  sender: Sender;
  entity: Entity;
  mode: ReceiveMode;
  /** Deliveries taken from the broker for this link (rhea counts them only once transmitted). */
  sent: number;
  /** Of those, the peek-locked ones waiting for their lock to reach the log before they are handed to rhea. */
  inFlight: number;
  echoDrain: boolean;
  closed: boolean;
}

type LinkRole =
  | { kind: "cbs-requests" }
  | { kind: "management-requests"; entity: Entity }
  | { kind: "send"; entity: Entity }
  | { kind: "reply" }
  | { kind: "receive"; link: ReceiveLink };

interface ConnectionState {
  replyLinks: Map<string, Sender>;
  receiveLinks: Set<ReceiveLink>;
}

const amqpMessage = rhea.message as unknown as {
  accepted(): { described(): unknown };
  released(): { described(): unknown };
  modified(fields: { undeliverable_here?: boolean }): { described(): unknown };
  rejected(fields: { error?: { condition: string; description: string } }): { described(): unknown };
};

function normalizeAddress(address: string | undefined): string {
  return (address ?? "").replace(/^(?:amqps?|sb):\/\/[^/]+\//i, "");
}

function internals(link: Sender | Receiver): RheaLinkInternals {
  return link as unknown as RheaLinkInternals;
}

/**
 * The AMQP side of the emulator: SASL ANONYMOUS, `$cbs`, `$management`, sender and receiver links, flow control and
 * settlement, over rhea in server mode.
 */
export class AmqpServer {
  private readonly container: Container;
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly connections = new WeakMap<Connection, ConnectionState>();
  private readonly roles = new WeakMap<Sender | Receiver, LinkRole>();
  private readonly lockTokens = new WeakMap<Delivery, string>();
  private readonly receiversByEntity = new Map<Entity, ReceiveLink[]>();
  private readonly rotation = new Map<Entity, number>();

  constructor(private readonly broker: Broker) {
    installRawMessageCapture();
    const options = {
      id: "servicebus-emulator",
      autoaccept: false,
      autosettle: true,
      treat_modified_as_released: false,
      credit_window: 500,
    };
    this.container = rhea.create_container(options);
    broker.onAvailable = (entity) => this.pumpEntity(entity);
    this.register();
  }

  /** Listens on `host`, or on both loopbacks (127.0.0.1 and ::1, as clients resolve `localhost`). */
  async listen(port: number, host?: string): Promise<number> {
    const hosts = host ? [host] : ["127.0.0.1", "::1"];
    let bound = port;
    for (const [i, h] of hosts.entries()) {
      try {
        bound = await this.listenOn(h, bound);
      } catch (error) {
        // A machine without IPv6 still serves IPv4 clients.
        if (i > 0 && (error as NodeJS.ErrnoException).code === "EADDRNOTAVAIL") continue;
        await this.close();
        throw error;
      }
    }
    return bound;
  }

  private listenOn(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.accept(socket));
      server.once("error", reject);
      server.listen({ host, port, ipv6Only: host.includes(":") }, () => {
        server.off("error", reject);
        server.on("error", (error) => console.error("servicebus emulator: listener error", error));
        this.servers.push(server);
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    const connection = (
      this.container as unknown as { create_connection(o: object): Connection & { accept(s: Socket): void } }
    ).create_connection({
      container_id: "servicebus-emulator",
      autoaccept: false,
      autosettle: true,
      treat_modified_as_released: false,
      credit_window: 500,
    });
    this.connections.set(connection, { replyLinks: new Map(), receiveLinks: new Set() });
    connection.accept(socket);
  }

  /** Stops listening and drops every connection (clients see a disconnect and reconnect elsewhere). */
  async close(): Promise<void> {
    const closing = this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    this.servers.length = 0;
    // server.close() waits for open connections: end them first.
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await Promise.all(closing);
  }

  private state(connection: Connection): ConnectionState {
    let state = this.connections.get(connection);
    if (!state) {
      state = { replyLinks: new Map(), receiveLinks: new Set() };
      this.connections.set(connection, state);
    }
    return state;
  }

  private register(): void {
    const c = this.container;
    c.on("sender_open", (ctx: EventContext) => this.onSenderOpen(ctx.sender as Sender));
    c.on("receiver_open", (ctx: EventContext) => this.onReceiverOpen(ctx.receiver as Receiver));
    c.on("message", (ctx: EventContext) => this.onMessage(ctx));
    for (const outcome of ["accepted", "rejected", "modified", "released"] as const) {
      c.on(outcome, (ctx: EventContext) => this.onOutcome(outcome, ctx));
    }
    c.on("sender_flow", (ctx: EventContext) => this.onFlow(ctx.sender as Sender));
    c.on("sendable", (ctx: EventContext) => this.onFlow(ctx.sender as Sender));
    c.on("sender_close", (ctx: EventContext) => this.onLinkClosed(ctx.sender as Sender));
    c.on("receiver_close", (ctx: EventContext) => this.onLinkClosed(ctx.receiver as Receiver));
    c.on("sender_error", () => undefined);
    c.on("receiver_error", () => undefined);
    c.on("session_error", () => undefined);
    c.on("connection_error", () => undefined);
    c.on("disconnected", (ctx: EventContext) => this.onDisconnected(ctx.connection));
    c.on("connection_close", (ctx: EventContext) => this.onDisconnected(ctx.connection));
    c.on("error", (error: unknown) => {
      if (process.env["SERVICEBUS_EMULATOR_DEBUG"]) console.error("servicebus emulator: amqp error", error);
    });
  }

  // ---- attach -------------------------------------------------------------------------------------------------

  /** Echo the client's termini and settle modes: rhea does not, and the SDK checks them. */
  private echo(link: Sender | Receiver): void {
    const source = link.source as { address?: string } | undefined;
    const target = link.target as { address?: string } | undefined;
    if (source) link.set_source({ address: source.address } as never);
    if (target) link.set_target({ address: target.address } as never);
    const attach = internals(link).local.attach;
    attach.snd_settle_mode = link.snd_settle_mode;
    attach.rcv_settle_mode = link.rcv_settle_mode;
  }

  private refuse(link: Sender | Receiver, condition: string, description: string): void {
    if (link.is_receiver()) {
      const target = link.target as { address?: string } | undefined;
      if (target) link.set_target({ address: target.address } as never);
    } else {
      const source = link.source as { address?: string } | undefined;
      if (source) link.set_source({ address: source.address } as never);
    }
    link.close({ condition, description });
  }

  private entityOrRefuse(link: Sender | Receiver, address: string): Entity | undefined {
    const entity = this.broker.entity(address);
    if (!entity) {
      this.refuse(
        link,
        conditions.entityNotFound,
        `The messaging entity 'sb://localhost/${address}' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions.`,
      );
    }
    return entity;
  }

  /** The client attached a receiver: the broker sends on this link. */
  private onSenderOpen(sender: Sender): void {
    const address = normalizeAddress((sender.source as { address?: string } | undefined)?.address);
    const state = this.state(sender.connection);
    if (address === "$cbs" || /\/\$management$/i.test(address)) {
      if (address !== "$cbs" && !this.entityOrRefuse(sender, address.replace(/\/\$management$/i, ""))) return;
      this.echo(sender);
      this.roles.set(sender, { kind: "reply" });
      state.replyLinks.set(sender.name, sender);
      const replyTo = (sender.target as { address?: string } | undefined)?.address;
      if (replyTo) state.replyLinks.set(replyTo, sender);
      return;
    }
    const entity = this.entityOrRefuse(sender, address);
    if (!entity) return;
    const filter = (sender.source as { filter?: Record<string, unknown> } | undefined)?.filter;
    if (filter && "com.microsoft:session-filter" in filter) {
      this.refuse(
        sender,
        conditions.notAllowed,
        `Sessions are not supported by the local Service Bus emulator: '${entity.path}' is not session-enabled.`,
      );
      return;
    }
    this.echo(sender);
    const link: ReceiveLink = {
      sender,
      entity,
      mode: sender.snd_settle_mode === 1 ? "receiveAndDelete" : "peekLock",
      sent: 0,
      inFlight: 0,
      echoDrain: false,
      closed: false,
    };
    this.installDrainEcho(link);
    this.roles.set(sender, { kind: "receive", link });
    state.receiveLinks.add(link);
    const links = this.receiversByEntity.get(entity) ?? [];
    links.push(link);
    this.receiversByEntity.set(entity, links);
  }

  /**
   * rhea answers a drain only while credit is left, but the SDK waits for the answer (receiver_drained) even when
   * every credit was used, and closes its link when none comes. So the echo is issued by hand.
   */
  private installDrainEcho(link: ReceiveLink): void {
    const rheaLink = internals(link.sender);
    rheaLink._get_drain = function (this: RheaLinkInternals) {
      if (!this._draining || !link.echoDrain) return false;
      link.echoDrain = false;
      this.delivery_count += this.credit;
      link.sent += this.credit;
      this.credit = 0;
      return true;
    };
  }

  /** The client attached a sender: the broker receives on this link. */
  private onReceiverOpen(receiver: Receiver): void {
    const address = normalizeAddress((receiver.target as { address?: string } | undefined)?.address);
    if (address === "$cbs") {
      this.echo(receiver);
      this.roles.set(receiver, { kind: "cbs-requests" });
      return;
    }
    if (/\/\$management$/i.test(address)) {
      const entity = this.entityOrRefuse(receiver, address.replace(/\/\$management$/i, ""));
      if (!entity) return;
      this.echo(receiver);
      this.roles.set(receiver, { kind: "management-requests", entity });
      return;
    }
    const entity = this.entityOrRefuse(receiver, address);
    if (!entity) return;
    if (entity.sub !== "main") {
      this.refuse(receiver, conditions.notAllowed, `Cannot send to the dead-letter queue '${entity.path}'.`);
      return;
    }
    this.echo(receiver);
    internals(receiver).local.attach.max_message_size = maxMessageSizeInBytes;
    this.roles.set(receiver, { kind: "send", entity });
  }

  private onLinkClosed(link: Sender | Receiver): void {
    const role = this.roles.get(link);
    if (role?.kind === "receive") this.dropReceiveLink(role.link);
    if (role?.kind === "reply") {
      const replies = this.state(link.connection).replyLinks;
      for (const [key, value] of replies) if (value === link) replies.delete(key);
    }
  }

  private dropReceiveLink(link: ReceiveLink): void {
    if (link.closed) return;
    link.closed = true;
    const links = this.receiversByEntity.get(link.entity);
    if (links) {
      const i = links.indexOf(link);
      if (i >= 0) links.splice(i, 1);
    }
    this.connections.get(link.sender.connection)?.receiveLinks.delete(link);
  }

  private onDisconnected(connection: Connection): void {
    const state = this.connections.get(connection);
    if (!state) return;
    for (const link of [...state.receiveLinks]) this.dropReceiveLink(link);
    state.replyLinks.clear();
  }

  // ---- transfers from clients ---------------------------------------------------------------------------------

  private onMessage(ctx: EventContext): void {
    const receiver = ctx.receiver as Receiver;
    const delivery = ctx.delivery as Delivery;
    const role = this.roles.get(receiver);
    if (!role) return;
    switch (role.kind) {
      case "cbs-requests":
        this.onCbsRequest(receiver, ctx.message as Message);
        this.settle(delivery, amqpMessage.accepted().described());
        return;
      case "management-requests":
        this.settle(delivery, amqpMessage.accepted().described());
        void this.onManagementRequest(receiver, role.entity, ctx.message as Message);
        return;
      case "send":
        void this.onSend(role.entity, ctx, delivery);
        return;
      default:
        return;
    }
  }

  private settle(delivery: Delivery, outcome: unknown): void {
    try {
      delivery.update(true, outcome);
    } catch {
      // the link went away meanwhile: the client retries on its own
    }
  }

  private reject(delivery: Delivery, condition: string, description: string): void {
    this.settle(delivery, amqpMessage.rejected({ error: { condition, description } }).described());
  }

  private async onSend(entity: Entity, ctx: EventContext, delivery: Delivery): Promise<void> {
    const format = delivery.format;
    const payload = ctx.message as unknown;
    const raw = Buffer.isBuffer(payload)
      ? payload
      : (rawMessageBytes(payload as object) ?? encodeMessage(payload as object));
    if (raw.length > maxMessageSizeInBytes) {
      this.reject(
        delivery,
        conditions.messageSizeExceeded,
        `The received message (delivery-id:${delivery.id}, size:${raw.length} bytes) exceeds the limit (${maxMessageSizeInBytes} bytes) currently allowed on the link.`,
      );
      return;
    }
    try {
      const encoded = format === batchMessageFormat ? splitBatch(raw) : [raw];
      const messages = encoded.map((m) => parseMessage(m, randomUUID));
      await this.broker.send(entity, messages);
      if (!delivery.remote_settled) this.settle(delivery, amqpMessage.accepted().described());
    } catch (error) {
      if (error instanceof BrokerError) this.reject(delivery, error.condition, error.message);
      else if (error instanceof MessageDecodeError) this.reject(delivery, conditions.decodeError, error.message);
      else this.reject(delivery, conditions.internalError, (error as Error).message);
    }
  }

  private replyLink(link: Receiver, replyTo: string | undefined): Sender | undefined {
    return replyTo ? this.state(link.connection).replyLinks.get(replyTo) : undefined;
  }

  private onCbsRequest(receiver: Receiver, request: Message): void {
    const reply = this.replyLink(receiver, request.reply_to);
    if (!reply) return;
    // Tokens are not checked: the emulator serves whoever reaches the port.
    reply.send({
      correlation_id: request.message_id,
      application_properties: { "status-code": amqpTypes.wrap_int(202), "status-description": "Accepted" },
      body: undefined,
    } as unknown as Message);
  }

  private async onManagementRequest(receiver: Receiver, entity: Entity, request: Message): Promise<void> {
    const operation = request.application_properties?.["operation"];
    const response = await handleManagementRequest(this.broker, entity, operation, request.body);
    const reply = this.replyLink(receiver, request.reply_to);
    if (!reply || !reply.is_open()) return;
    reply.send({
      correlation_id: request.message_id,
      application_properties: {
        statusCode: amqpTypes.wrap_int(response.statusCode),
        statusDescription: response.statusDescription,
        ...(response.errorCondition ? { errorCondition: amqpTypes.wrap_symbol(response.errorCondition) } : {}),
        "com.microsoft:tracking-id": request.application_properties?.["com.microsoft:tracking-id"] ?? randomUUID(),
      },
      body: response.body,
    } as unknown as Message);
  }

  // ---- deliveries to clients ----------------------------------------------------------------------------------

  private onFlow(sender: Sender): void {
    const role = this.roles.get(sender);
    if (role?.kind !== "receive") return;
    const link = role.link;
    this.pump(link);
    this.answerDrain(link);
  }

  /** Ends a drain the client asked for, once no delivery is waiting to be transferred (they use its credit first). */
  private answerDrain(link: ReceiveLink): void {
    const rheaLink = internals(link.sender);
    if (rheaLink._draining && link.inFlight === 0 && !link.closed) {
      link.echoDrain = true;
      rheaLink.issue_flow = true;
      rheaLink.connection._register();
    }
  }

  private pumpEntity(entity: Entity): void {
    const links = this.receiversByEntity.get(entity);
    if (!links || links.length === 0) return;
    // Start with a different link each time so concurrent receivers share the queue.
    const start = (this.rotation.get(entity) ?? 0) % links.length;
    this.rotation.set(entity, start + 1);
    for (let i = 0; i < links.length && this.broker.hasAvailable(entity); i++) {
      this.pump(links[(start + i) % links.length] as ReceiveLink);
    }
  }

  private pump(link: ReceiveLink): void {
    const sender = link.sender;
    if (link.closed || !sender.is_open()) return;
    const rheaLink = internals(sender);
    let budget = rheaLink.credit - (link.sent - rheaLink.delivery_count);
    let room = rheaLink.session.outgoing.available() - link.inFlight;
    const locked: Delivered[] = [];
    while (budget > 0 && room > 0) {
      const next = this.broker.receiveNext(link.entity, link.mode);
      if (!next) break;
      link.sent++;
      budget--;
      room--;
      if (next.written) locked.push(next);
      else this.transfer(link, next);
    }
    if (locked.length > 0) this.transferOnceWritten(link, locked);
  }

  private transfer(link: ReceiveLink, next: Delivered): void {
    const tag = next.lockTokenBytes
      ? lockTokenToDeliveryTag(next.lockTokenBytes)
      : Buffer.from(randomUUID().replace(/-/g, ""), "hex");
    const delivery = link.sender.send(next.encoded, tag, 0);
    if (next.lockToken) this.lockTokens.set(delivery, next.lockToken);
  }

  /**
   * Transfers peek-locked messages once their locks are in the log (one group commit for the batch). A message whose
   * link went away meanwhile was never delivered: its lock is released without counting.
   */
  private transferOnceWritten(link: ReceiveLink, locked: Delivered[]): void {
    link.inFlight += locked.length;
    const finish = (written: boolean): void => {
      link.inFlight -= locked.length;
      for (const next of locked) {
        if (written && !link.closed && link.sender.is_open()) {
          this.transfer(link, next);
          continue;
        }
        link.sent--;
        if (next.lockToken) this.broker.settle(next.lockToken, { kind: "release" }).catch(() => undefined);
      }
      this.answerDrain(link);
    };
    Promise.all(locked.map((d) => d.written)).then(
      () => finish(true),
      (error: unknown) => {
        console.error("servicebus emulator: could not write a lock to the log", error);
        finish(false);
      },
    );
  }

  /** The client settled a peek-locked delivery on the link. */
  private onOutcome(outcome: "accepted" | "rejected" | "modified" | "released", ctx: EventContext): void {
    const delivery = ctx.delivery as Delivery;
    const token = this.lockTokens.get(delivery);
    if (!token) return;
    this.lockTokens.delete(delivery);
    const state = delivery.remote_state as
      | {
          undeliverable_here?: boolean;
          message_annotations?: Record<string, unknown>;
          error?: { condition?: string; info?: Record<string, unknown> };
        }
      | undefined;
    let settlement: Settlement;
    switch (outcome) {
      case "accepted":
        settlement = { kind: "complete" };
        break;
      case "released":
        settlement = { kind: "release" };
        break;
      case "modified": {
        const propertiesToModify = state?.message_annotations;
        const props = propertiesToModify ? { propertiesToModify } : {};
        settlement = state?.undeliverable_here ? { kind: "defer", ...props } : { kind: "abandon", ...props };
        break;
      }
      case "rejected": {
        const { DeadLetterReason, DeadLetterErrorDescription, ...rest } = state?.error?.info ?? {};
        settlement = {
          kind: "deadLetter",
          ...(typeof DeadLetterReason === "string" ? { reason: DeadLetterReason } : {}),
          ...(typeof DeadLetterErrorDescription === "string" ? { description: DeadLetterErrorDescription } : {}),
          propertiesToModify: Object.fromEntries(Object.entries(rest).filter(([, v]) => v != null)),
        };
        break;
      }
    }
    // The outcome is echoed without error information: an error would read as a failure to the SDK.
    const echo =
      outcome === "accepted"
        ? amqpMessage.accepted().described()
        : outcome === "released"
          ? amqpMessage.released().described()
          : outcome === "modified"
            ? amqpMessage.modified({ undeliverable_here: state?.undeliverable_here ?? false }).described()
            : amqpMessage.rejected({}).described();
    this.broker
      .settle(token, settlement)
      .then(() => this.finishSettlement(delivery, echo))
      .catch((error: unknown) => {
        const e = error instanceof BrokerError ? error : new BrokerError(conditions.internalError, String(error));
        this.finishSettlement(
          delivery,
          amqpMessage.rejected({ error: { condition: e.condition, description: e.message } }).described(),
        );
      });
  }

  /**
   * Settles on the broker's side, which is what resolves the SDK's complete/abandon/... promise. The client does not
   * answer a settlement in this mode, so the delivery is marked settled on both ends here, or rhea's delivery buffer
   * would fill up.
   */
  private finishSettlement(delivery: Delivery, outcome: unknown): void {
    this.settle(delivery, outcome);
    (delivery as unknown as MutableDelivery).remote_settled = true;
  }
}
