import { promoteRequestSchema } from "../shared/operator/requests.js";
import { promoteVersion } from "../shared/usecases/operatorControls.js";
import { operatorHandler } from "./operatorHttp.js";

/** HTTP POST /api/images/{name}/promote (admin key): puts a fully replicated version back into `latest`. */
export const promoteImage = operatorHandler(promoteRequestSchema, (deps, image, body, by) =>
  promoteVersion(deps, image, { version: body.version, by }),
);
