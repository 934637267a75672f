import { enableSchedule } from "../../shared/usecases/operatorControls.js";
import { lines, parse } from "../args.js";
import type { CliCommand } from "../command.js";
import { cliCaller, onImage } from "../operator.js";

/** `schedule enable <image>`: turns back on a schedule that disabled itself after consecutive failed builds. */
export const command: CliCommand = {
  name: "schedule",
  summary: "turn an image's schedule back on after it disabled itself",
  usage: "schedule enable <image>",
  async run(argv, io) {
    const out = lines(io);
    const args = parse(argv, {});
    const [action, image] = args.positionals;
    if (action !== "enable" || !image || args.positionals.length !== 2) {
      out.error(`usage: image-pipeline ${this.usage}`);
      return 2;
    }
    return onImage(io, image, async (deps, catalogImage) => {
      const result = await enableSchedule(deps, catalogImage, { by: cliCaller(io) });
      out.out(
        result.wasDisabled
          ? `${image}: schedule enabled (failed builds before ${result.enabledAt} no longer count)`
          : `${image}: schedule was not disabled`,
      );
    });
  },
};
