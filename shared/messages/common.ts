import { createHash } from "node:crypto";
import * as z from "zod";

/**
 * Version of the message contracts; a consumer dead-letters a message of a version it does not know. 2: builds
 * distribute straight into the gallery (no staging image in the messages; `version-publish` names the version).
 */
export const messageSchemaVersion = 2;

/** W3C trace context `traceparent` (version 00). */
export const traceparentSchema = z
  .string()
  .regex(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, "a W3C traceparent such as 00-<32 hex>-<16 hex>-01");

/** A build's id: derived from what was asked for, so the same request twice is the same build. */
export const buildIdSchema = z.string().regex(/^b-[0-9a-f]{20}$/, "a build id such as b-0123456789abcdef0123");

/** A catalog image name (the webhook's `image`). */
export const imageNameSchema = z
  .string()
  .min(1)
  .max(80)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, dots, dashes and underscores");

/** A `Major.Minor.Patch` gallery image version, each part an int32. */
export const imageVersionNameSchema = z
  .string()
  .regex(/^(0|[1-9]\d{0,9})\.(0|[1-9]\d{0,9})\.(0|[1-9]\d{0,9})$/, "Major.Minor.Patch")
  .refine((v) => v.split(".").every((p) => Number(p) <= 2_147_483_647), "each part of a version fits an int32");

/** Why a build was asked for. */
export const buildReasonSchema = z.enum(["push", "release", "workflow_run", "api", "schedule", "manual"]);

/**
 * What every message of a build carries: who asked for what, and the trace it belongs to.
 * The state of a build in flight lives only in its messages, so each one is complete on its own.
 */
export const buildEnvelopeSchema = z.object({
  /** Contract version, {@link messageSchemaVersion}. */
  schemaVersion: z.literal(messageSchemaVersion),
  /** The build this message belongs to; tags on Azure resources carry it too. */
  buildId: buildIdSchema,
  /** Catalog image name. */
  image: imageNameSchema,
  /** Source commit the build is for, when a CI system asked. */
  commit: z
    .string()
    .regex(/^[0-9a-f]{7,64}$/, "a hex commit id")
    .optional(),
  /** Git ref (branch or tag) the build is for. */
  ref: z.string().min(1).max(255).optional(),
  /** Why the build was asked for. */
  reason: buildReasonSchema,
  /** Who asked: a GitHub login, `schedule`, `cli:<user>`. */
  requestedBy: z.string().min(1).max(128),
  /** When the build was asked for (ISO 8601). */
  requestedAt: z.iso.datetime(),
  /** W3C trace context of the request, so every step logs under one operation. */
  traceparent: traceparentSchema,
});
export type BuildEnvelope = z.infer<typeof buildEnvelopeSchema>;

/** Derives a build id from what identifies a request: the same image and commit (or nonce) give the same build. */
export function deriveBuildId(parts: { image: string; commit?: string; ref?: string; nonce?: string }): string {
  const key = [parts.image, parts.commit ?? "", parts.commit ? "" : (parts.ref ?? ""), parts.nonce ?? ""].join("\n");
  return `b-${createHash("sha256").update(key).digest("hex").slice(0, 20)}`;
}

/** A fresh W3C traceparent, or a child span of the given one. */
export function newTraceparent(parent?: string): string {
  const random = (bytes: number) =>
    Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
  const traceId = parent?.split("-")[1] ?? random(16);
  return `00-${traceId}-${random(8)}-01`;
}
