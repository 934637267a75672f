import { readFileSync } from "node:fs";
import { request } from "node:https";
import { isLoopback } from "../../shared/adapters/loopback.js";
import { lines, parse } from "../args.js";
import type { CliCommand, CliIo } from "../command.js";
import { cliSettings } from "../settings.js";

/** An event as the local topic keeps it. */
interface KeptEvent {
  n: number;
  receivedAt: string;
  event: {
    id: string;
    type: string;
    subject?: string;
    time?: string;
    data?: { image?: string } & Record<string, unknown>;
  };
}

/** The events the local topic kept after position `after` (its admin API: local/eventgrid/README.md). */
function keptEvents(endpoint: string, ca: string | undefined, after: number): Promise<KeptEvent[]> {
  const url = new URL(`/_emulator/events?after=${after}`, endpoint);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if ((res.statusCode ?? 500) >= 400) reject(new Error(`the local topic answered ${res.statusCode}: ${text}`));
        else resolve((JSON.parse(text) as { events: KeptEvent[] }).events);
      });
    });
    req.on("error", reject);
    req.end();
  });
}

/** One line per event: when, type, subject, id; a failure's reason and a rollback's reason after it. */
export function formatEvent({ event }: KeptEvent): string {
  const type = event.type.replace(/^ImagePipeline\./, "");
  const why = typeof event.data?.reason === "string" ? `  (${event.data.reason})` : "";
  return `${(event.time ?? "").slice(0, 19).replace("T", " ")}  ${type.padEnd(18)} ${(event.subject ?? "").padEnd(48)} ${event.id}${why}`;
}

/** `events [--follow] [--image <name>] [--json]`: the events the local stack's Event Grid topic received. */
export const command: CliCommand = {
  name: "events",
  summary: "list the events the local stack's Event Grid topic received (--follow: and wait for more)",
  usage: "events [--follow] [--image <name>] [--json]",
  async run(argv, io: CliIo) {
    const out = lines(io);
    const args = parse(argv, { follow: { type: "boolean" }, image: { type: "string" }, json: { type: "boolean" } });
    if (args.positionals.length > 0) {
      out.error(`usage: image-pipeline ${this.usage}`);
      return 2;
    }
    const settings = cliSettings(io.env);
    const endpoint = settings.EVENT_GRID_TOPIC_ENDPOINT;
    if (!endpoint || settings.EVENT_GRID_AUTH !== "emulator" || !isLoopback(endpoint)) {
      out.error(
        "An Event Grid topic keeps no events: it delivers them to its subscriptions. This command reads the local " +
          "stack's topic (npm start). In Azure, subscribe to the topic (the eventsWebhookUrl parameter, or any " +
          "Event Grid subscription: a Service Bus or Storage queue keeps them to read).",
      );
      return 1;
    }
    const ca = settings.EVENT_GRID_CA_CERT_PATH ? readFileSync(settings.EVENT_GRID_CA_CERT_PATH, "utf8") : undefined;
    const image = typeof args.flags.image === "string" ? args.flags.image : undefined;
    const show = (kept: KeptEvent[]) => {
      for (const e of kept) {
        if (image && e.event.data?.image !== image) continue;
        out.out(args.flags.json === true ? JSON.stringify(e.event) : formatEvent(e));
      }
    };
    let after = 0;
    const batch = await keptEvents(endpoint, ca, after);
    show(batch);
    after = batch.at(-1)?.n ?? after;
    if (args.flags.follow !== true) return 0;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const next = await keptEvents(endpoint, ca, after);
      show(next);
      after = next.at(-1)?.n ?? after;
    }
  },
};
