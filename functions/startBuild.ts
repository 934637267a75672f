import { buildRequestedSchema } from "../shared/messages/index.js";
import { startBuild } from "../shared/usecases/startBuild.js";
import { queueFunction } from "./runtime.js";

/** Queue `build-requests`: starts the Image Builder run of a requested build. */
export const startBuildHandler = queueFunction(buildRequestedSchema, async (deps, message) =>
  startBuild(deps, message),
);
