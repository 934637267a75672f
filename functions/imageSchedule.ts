import { scheduleRequestSchema } from "../shared/operator/requests.js";
import { enableSchedule } from "../shared/usecases/operatorControls.js";
import { operatorHandler } from "./operatorHttp.js";

/** HTTP POST /api/images/{name}/schedule `{"enabled": true}` (admin key): turns a disabled schedule back on. */
export const imageSchedule = operatorHandler(scheduleRequestSchema, (deps, image, _body, by) =>
  enableSchedule(deps, image, { by }),
);
