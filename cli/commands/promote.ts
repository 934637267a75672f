import { promoteRequestSchema } from "../../shared/operator/requests.js";
import { promoteVersion } from "../../shared/usecases/operatorControls.js";
import { lines, parse } from "../args.js";
import type { CliCommand } from "../command.js";
import { cliCaller, onImage, printLatest } from "../operator.js";

/** `promote <image> <version>`: puts a fully replicated version back into `latest`, then prints what `latest` is. */
export const command: CliCommand = {
  name: "promote",
  summary: "put a fully replicated version (back) into latest",
  usage: "promote <image> <x.y.z>",
  async run(argv, io) {
    const out = lines(io);
    const args = parse(argv, {});
    const [image, version] = args.positionals;
    const request = promoteRequestSchema.safeParse({ version });
    if (!image || args.positionals.length !== 2 || !request.success) {
      out.error(`usage: image-pipeline ${this.usage}`);
      return 2;
    }
    return onImage(io, image, async (deps, catalogImage) => {
      const result = await promoteVersion(deps, catalogImage, { version: request.data.version, by: cliCaller(io) });
      out.out(`${image} ${result.version} ${result.alreadyPromoted ? "was already promoted" : "promoted"}`);
      printLatest(io, image, result.after);
    });
  },
};
