import * as z from "zod";
import { buildReasonSchema, imageNameSchema } from "../messages/common.js";
import type { BuildRequest } from "../usecases/requestBuild.js";
import { verifySignature } from "./signature.js";

/** A generic build request body (any CI system). */
export const genericBuildRequestSchema = z
  .object({
    /** Catalog image name. */
    image: imageNameSchema,
    /** Commit the build is for (hex). */
    commit: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/i, "a hex commit id")
      .transform((c) => c.toLowerCase())
      .optional(),
    /** Git ref the build is for. */
    ref: z.string().min(1).max(255).optional(),
    /** Why the build is asked for. */
    reason: buildReasonSchema.default("api"),
    /** Who asks (shown in status and tags). */
    requestedBy: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[\w.@:/ -]+$/, "letters, digits and . @ : / - _")
      .optional(),
    /** Build even if this image and commit were built before. */
    force: z.boolean().optional(),
    /** Hash of the catalog entry the requester saw (`catalog publish` prints it); 409 if the published one differs. */
    catalogHash: z
      .string()
      .regex(/^[0-9a-f]{64}$/i, "a SHA-256 catalog entry hash (64 hex digits)")
      .transform((h) => h.toLowerCase())
      .optional(),
  })
  .strict();
export type GenericBuildRequest = z.infer<typeof genericBuildRequestSchema>;

const sha = z.string().regex(/^[0-9a-f]{40}$/);
/** The account that caused a GitHub delivery; its login becomes the build's requestedBy. */
const githubSenderSchema = z
  .object({ login: z.string().max(128) })
  .partial()
  .optional();
const githubPushSchema = z.object({
  ref: z.string().min(1).max(255),
  after: sha,
  deleted: z.boolean().optional(),
  pusher: z
    .object({ name: z.string().max(128) })
    .partial()
    .optional(),
  sender: githubSenderSchema,
});
const githubReleaseSchema = z.object({
  action: z.string(),
  release: z.object({ tag_name: z.string().min(1).max(255), target_commitish: z.string().max(255).optional() }),
  sender: githubSenderSchema,
});
const githubWorkflowRunSchema = z.object({
  action: z.string(),
  workflow_run: z.object({
    head_sha: sha,
    head_branch: z.string().max(255).nullable().optional(),
    conclusion: z.string().nullable().optional(),
    name: z.string().max(255).optional(),
  }),
  sender: githubSenderSchema,
});

/** An error answer: HTTP status, a stable code, a message, and the field it is about. */
export interface WebhookError {
  status: 400 | 401 | 404 | 413 | 415;
  code: string;
  message: string;
  target?: string;
}

/** What a webhook delivery asks for. */
export type WebhookOutcome =
  | { kind: "build"; request: BuildRequest }
  | { kind: "ignored"; reason: string }
  | { kind: "error"; error: WebhookError };

/** The parts of an HTTP request the webhook reads. */
export interface WebhookInput {
  headers: { get(name: string): string | null };
  body: Uint8Array;
  query: { get(name: string): string | null };
  secrets: string[];
  maxBodyInBytes: number;
}

const fail = (error: WebhookError): WebhookOutcome => ({ kind: "error", error });

const githubEventNamePattern = /^[a-z]+(_[a-z]+)*$/;

/**
 * Turns a webhook delivery into a build request: a generic JSON body, or a GitHub `push`, `release` or
 * `workflow_run` delivery (the image named by the `image` query parameter). When a secret is configured, every
 * delivery must carry a valid `X-Hub-Signature-256`; GitHub deliveries always must.
 */
export function parseWebhook(input: WebhookInput): WebhookOutcome {
  const { headers, body, query, secrets } = input;
  if (body.byteLength > input.maxBodyInBytes) {
    return fail({ status: 413, code: "PayloadTooLarge", message: `the body exceeds ${input.maxBodyInBytes} bytes` });
  }
  const contentType = (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (contentType !== "application/json") {
    return fail({ status: 415, code: "UnsupportedMediaType", message: "send the body as application/json" });
  }
  const githubEvent = headers.get("x-github-event");
  if (secrets.length > 0 || githubEvent) {
    if (secrets.length === 0) {
      return fail({ status: 401, code: "SignatureRequired", message: "GitHub deliveries need WEBHOOK_SECRET set" });
    }
    if (!verifySignature(body, headers.get("x-hub-signature-256"), secrets)) {
      return fail({
        status: 401,
        code: "InvalidSignature",
        message: "X-Hub-Signature-256 is missing or does not match",
      });
    }
  }
  // GitHub event names are lowercase words joined by underscores; anything else is not a GitHub delivery.
  if (githubEvent !== null && !githubEventNamePattern.test(githubEvent)) {
    return fail({
      status: 400,
      code: "InvalidRequest",
      message: "x-github-event: not a GitHub event name",
      target: "x-github-event",
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    return fail({ status: 400, code: "InvalidJson", message: "the body is not valid JSON" });
  }
  return githubEvent ? parseGitHub(githubEvent, json, query) : parseGeneric(json);
}

function schemaError(error: z.ZodError): WebhookOutcome {
  const issue = error.issues[0]!;
  const target = issue.path.join(".") || undefined;
  return fail({
    status: 400,
    code: "InvalidRequest",
    message: `${target ?? "body"}: ${issue.message}`,
    target,
  });
}

function parseGeneric(json: unknown): WebhookOutcome {
  const parsed = genericBuildRequestSchema.safeParse(json);
  if (!parsed.success) return schemaError(parsed.error);
  const r = parsed.data;
  return {
    kind: "build",
    request: {
      image: r.image,
      commit: r.commit,
      ref: r.ref,
      reason: r.reason,
      requestedBy: r.requestedBy ?? "api",
      force: r.force,
      nonce: r.force ? `force:${crypto.randomUUID()}` : undefined,
      catalogHash: r.catalogHash,
    },
  };
}

/**
 * A delivery's build id comes from image and commit (or tag), never from the delivery id, so a replayed or redelivered
 * delivery is the same build.
 */
function parseGitHub(event: string, json: unknown, query: WebhookInput["query"]): WebhookOutcome {
  if (event === "ping") return { kind: "ignored", reason: "ping" };
  const image = imageNameSchema.safeParse(query.get("image"));
  if (!image.success) {
    return fail({
      status: 400,
      code: "InvalidRequest",
      message: "name the catalog image in the `image` query parameter",
      target: "image",
    });
  }
  switch (event) {
    case "push": {
      const push = githubPushSchema.safeParse(json);
      if (!push.success) return schemaError(push.error);
      if (push.data.deleted || /^0{40}$/.test(push.data.after)) return { kind: "ignored", reason: "branch deleted" };
      return {
        kind: "build",
        request: {
          image: image.data,
          commit: push.data.after,
          ref: push.data.ref,
          reason: "push",
          requestedBy: push.data.pusher?.name ?? push.data.sender?.login ?? "github",
        },
      };
    }
    case "release": {
      const release = githubReleaseSchema.safeParse(json);
      if (!release.success) return schemaError(release.error);
      if (release.data.action !== "published") return { kind: "ignored", reason: `release ${release.data.action}` };
      return {
        kind: "build",
        request: {
          image: image.data,
          ref: `refs/tags/${release.data.release.tag_name}`,
          reason: "release",
          requestedBy: release.data.sender?.login ?? "github",
          nonce: `release:${release.data.release.tag_name}`,
        },
      };
    }
    case "workflow_run": {
      const run = githubWorkflowRunSchema.safeParse(json);
      if (!run.success) return schemaError(run.error);
      if (run.data.action !== "completed" || run.data.workflow_run.conclusion !== "success") {
        return {
          kind: "ignored",
          reason: `workflow_run ${run.data.action} ${run.data.workflow_run.conclusion ?? ""}`.trim(),
        };
      }
      return {
        kind: "build",
        request: {
          image: image.data,
          commit: run.data.workflow_run.head_sha,
          ref: run.data.workflow_run.head_branch ? `refs/heads/${run.data.workflow_run.head_branch}` : undefined,
          reason: "workflow_run",
          requestedBy: run.data.sender?.login ?? "github",
        },
      };
    }
    default:
      return { kind: "ignored", reason: `event ${event} does not trigger builds` };
  }
}
