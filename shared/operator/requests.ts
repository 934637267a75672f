import * as z from "zod";
import { imageVersionNameSchema } from "../messages/common.js";

/** Body of `POST /api/images/{name}/rollback` (and what `image-pipeline rollback` asks for). */
export const rollbackRequestSchema = z.strictObject({
  /** The version to take out of `latest`; default the one `latest` resolves to now. */
  version: imageVersionNameSchema.optional(),
  /** Why, recorded on the version and in its event. */
  reason: z.string().trim().min(1, "say why (reason)").max(256),
});
export type RollbackRequest = z.infer<typeof rollbackRequestSchema>;

/** Body of `POST /api/images/{name}/promote`. */
export const promoteRequestSchema = z.strictObject({
  /** The fully replicated version to put (back) into `latest`. */
  version: imageVersionNameSchema,
});
export type PromoteRequest = z.infer<typeof promoteRequestSchema>;

/** Body of `POST /api/images/{name}/schedule`: only turning a schedule back on is an operator's call. */
export const scheduleRequestSchema = z.strictObject({
  enabled: z.literal(true),
});
export type ScheduleRequest = z.infer<typeof scheduleRequestSchema>;
