import { rollbackRequestSchema } from "../../shared/operator/requests.js";
import { rollbackVersion } from "../../shared/usecases/operatorControls.js";
import { lines, parse } from "../args.js";
import type { CliCommand } from "../command.js";
import { cliCaller, onImage, printLatest } from "../operator.js";

/** `rollback <image> [--version V] --reason "..."`: takes a version out of `latest`, then prints what `latest` is. */
export const command: CliCommand = {
  name: "rollback",
  summary: "take a version out of latest (default: the one latest resolves to), with the reason",
  usage: 'rollback <image> [--version <x.y.z>] --reason "<why>"',
  async run(argv, io) {
    const out = lines(io);
    const args = parse(argv, { version: { type: "string" }, reason: { type: "string" } });
    const image = args.positionals[0];
    const request = rollbackRequestSchema.safeParse({ version: args.flags.version, reason: args.flags.reason ?? "" });
    if (!image || args.positionals.length > 1 || !request.success) {
      out.error(`usage: image-pipeline ${this.usage}`);
      if (request.error) out.error(request.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("\n"));
      return 2;
    }
    return onImage(io, image, async (deps, catalogImage) => {
      const result = await rollbackVersion(deps, catalogImage, { ...request.data, by: cliCaller(io) });
      out.out(
        result.alreadyRolledBack
          ? `${image} ${result.version} was already rolled back`
          : `${image} ${result.version} rolled back: ${request.data.reason}`,
      );
      printLatest(io, image, result.after);
    });
  },
};
