import { loadQueueConfig } from "../../shared/config/queues.js";
import { openDeadLetterQueue } from "../../shared/adapters/deadLetters.js";
import { cliSettings } from "../settings.js";
import type { CliCommand } from "../command.js";
import { lines, parse } from "../args.js";

/** `dlq list <queue>` and `dlq replay <queue> [--all | sequence numbers…]`: inspect and resubmit dead-lettered messages. */
export const command: CliCommand = {
  name: "dlq",
  summary: "list or replay a queue's dead-lettered messages",
  usage: "dlq list <queue> | dlq replay <queue> [--all | <sequenceNumber>…]",
  async run(argv, rawIo) {
    const io = lines(rawIo);
    const args = parse(argv, { all: { type: "boolean" } });
    const [action, queue, ...rest] = args.positionals;
    const queues = loadQueueConfig().queues.map((q) => q.name);
    if ((action !== "list" && action !== "replay") || !queue || !queues.includes(queue)) {
      io.error(`usage: image-pipeline ${this.usage}\nqueues: ${queues.join(", ")}`);
      return 2;
    }
    const dlq = await openDeadLetterQueue(cliSettings(rawIo.env), queue);
    try {
      if (action === "list") {
        const messages = await dlq.list();
        for (const m of messages) {
          io.out(
            `#${m.sequenceNumber} ${m.enqueuedTimeUtc ?? ""} ${m.messageId ?? ""}\n  reason: ${m.deadLetterReason ?? "-"}\n  description: ${m.deadLetterErrorDescription ?? "-"}\n  body: ${JSON.stringify(m.body).slice(0, 400)}`,
          );
        }
        io.out(`${messages.length} dead-lettered message(s) in ${queue}`);
        return 0;
      }
      if (args.flags.all !== true && rest.length === 0) {
        io.error("say which messages to replay: --all, or their sequence numbers");
        return 2;
      }
      const replayed = await dlq.replay(args.flags.all === true ? "all" : rest.map((s) => BigInt(s)));
      io.out(`replayed ${replayed} message(s) to ${queue}`);
      return 0;
    } finally {
      await dlq.close();
    }
  },
};
