import { connect, createServer, type Socket } from "node:net";

/**
 * Calls `onFrame` with each whole AMQP frame (or 8-byte protocol header) of a client's byte stream, however TCP cut
 * it (AMQP 1.0 part 2.3: a frame starts with its 4-byte size).
 */
function amqpFrameSplitter(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const isProtocolHeader = pending.length >= 4 && pending.subarray(0, 4).toString("latin1") === "AMQP";
      const size = isProtocolHeader ? 8 : pending.length >= 4 ? pending.readUInt32BE(0) : Infinity;
      if (pending.length < size) return;
      onFrame(pending.subarray(0, size));
      pending = pending.subarray(size);
    }
  };
}

/** Whether a frame carries a `disposition` performative (AMQP 1.0 part 2.7.6: descriptor code 0x15). */
function isDisposition(frame: Buffer): boolean {
  if (frame.length <= 8 || frame.subarray(0, 4).toString("latin1") === "AMQP" || frame[5] !== 0) return false;
  const body = frame.subarray(frame[4]! * 4);
  return body[0] === 0x00 && body[1] === 0x53 && body[2] === 0x15;
}

/**
 * A TCP relay in front of the broker that can drop every connection and refuse new ones for a while: a broker
 * outage as the client sees it. After `dropAtNextDisposition()`, the connection that sends the next settlement dies
 * with that frame unsent: the broker went down while the settlement was on its way.
 */
export async function startTcpProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let dispositionTrap: (() => void) | undefined;
  const server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => undefined);
    }
    client.on(
      "data",
      amqpFrameSplitter((frame) => {
        if (upstream.destroyed) return;
        if (dispositionTrap && isDisposition(frame)) {
          client.destroy();
          upstream.destroy();
          dispositionTrap();
          dispositionTrap = undefined;
          return;
        }
        upstream.write(frame);
      }),
    );
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  await listen(0);
  const { port } = server.address() as { port: number };
  const drop = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  return {
    port,
    drop,
    resume: () => listen(port),
    close: () => (server.listening ? drop() : Promise.resolve()),
    /** Resolves once the next settlement's connection was dropped with the settlement unsent. */
    dropAtNextDisposition: () => new Promise<void>((resolve) => (dispositionTrap = resolve)),
  };
}
