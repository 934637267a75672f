import { publishVersionSchema } from "../shared/messages/index.js";
import { publishVersion } from "../shared/usecases/publishVersion.js";
import { queueFunction } from "./runtime.js";

/** Queue `version-publish`: publishes a successful run's output as a gallery image version. */
export const publishVersionHandler = queueFunction(publishVersionSchema, async (deps, message) => {
  const result = await publishVersion(deps, message);
  return result.outcome === "conflict"
    ? { ...result, deadLetter: { reason: "VersionConflict", description: result.reason } }
    : result;
});
