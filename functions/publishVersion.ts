import { publishVersionSchema } from "../shared/messages/index.js";
import { publishVersion } from "../shared/usecases/publishVersion.js";
import { queueFunction } from "./runtime.js";

/** Queue `version-publish`: takes over the version a successful run distributed, adding its other regions. */
export const publishVersionHandler = queueFunction(publishVersionSchema, publishVersion);
