import { rollbackRequestSchema } from "../shared/operator/requests.js";
import { rollbackVersion } from "../shared/usecases/operatorControls.js";
import { operatorHandler } from "./operatorHttp.js";

/** HTTP POST /api/images/{name}/rollback (admin key): takes a version out of `latest`; answers what `latest` is now. */
export const rollbackImage = operatorHandler(rollbackRequestSchema, (deps, image, body, by) =>
  rollbackVersion(deps, image, { ...body, by }),
);
