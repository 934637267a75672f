import { createServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

/** One request that went through the recorder, and the status it got. */
export interface RecordedExchange {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  status: number;
}

/**
 * A loopback HTTP proxy in front of a local server (Azurite) that records each request and its answer's status, so a
 * test sees what a client really sent on the wire (or that it sent nothing).
 */
export async function startHttpRecorder(target: string) {
  const upstream = new URL(target);
  const exchanges: RecordedExchange[] = [];
  const server = createServer((incoming, outgoing) => {
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: upstream.host },
      },
      (answer) => {
        exchanges.push({
          method: incoming.method ?? "",
          path: incoming.url ?? "",
          headers: incoming.headers,
          status: answer.statusCode ?? 0,
        });
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forward.on("error", () => outgoing.destroy());
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    /** The recorder's origin: use it in place of the target's. */
    origin: `http://127.0.0.1:${port}`,
    exchanges,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
