import { buildWatchSchema } from "../shared/messages/index.js";
import { watchBuild } from "../shared/usecases/watchBuild.js";
import { queueFunction } from "./runtime.js";

/** Queue `build-watch`: checks an Image Builder run and moves the build on. */
export const watchBuildHandler = queueFunction(buildWatchSchema, async (deps, message) => watchBuild(deps, message));
