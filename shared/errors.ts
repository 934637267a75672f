import { DomainRuleError } from "./domain/errors.js";

/**
 * The pipeline's error model, decided in one place. Every error a handler can meet is classified by
 * {@link classifyError} into a disposition:
 * - `retry`: transient (a 5xx, a throttled call, a network error, anything unknown): the message is abandoned and
 *   Service Bus redelivers it, dead-lettering after its max delivery count;
 * - `deadLetter`: permanent (the input breaks a rule, Azure refused the request for a reason retrying will not fix):
 *   the message is dead-lettered at once with the error's code as the reason.
 * Codes are PascalCase, as Azure's own error codes.
 */

/** What a queue handler does with a message whose processing threw. */
export type ErrorDisposition = "retry" | "deadLetter";

/** Base class of the errors the pipeline raises itself: `code` is stable, `disposition` says what to do. */
export abstract class PipelineError extends Error {
  abstract readonly code: string;
  abstract readonly disposition: ErrorDisposition;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input that can never be processed as it is (schema violation, a message of another version). */
export class InvalidInputError extends PipelineError {
  readonly disposition = "deadLetter" as const;
  constructor(
    message: string,
    readonly code: string = "InvalidInput",
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A request or message naming a catalog image that does not exist (any more). */
export class UnknownImageError extends PipelineError {
  readonly code = "UnknownImage";
  readonly disposition = "deadLetter" as const;
  constructor(readonly imageName: string) {
    super(`image '${imageName}' is not in the catalog`);
  }
}

/**
 * Where gallery images run could not be read whole (Resource Graph denied a subscription, throttled past the sweep's
 * patience, failed): pruning deletes nothing that run, and the next run reads again.
 */
export class UsageUnavailableError extends PipelineError {
  readonly code = "UsageUnavailable";
  readonly disposition = "retry" as const;
}

/**
 * Azure refused the request for a reason retrying will not fix (400, 403, 404 of a source, a conflict with another
 * build's version). The build fails with this reason instead of being retried.
 */
export class PermanentAzureError extends PipelineError {
  readonly code = "PermanentAzureError";
  readonly disposition = "deadLetter" as const;
  constructor(
    message: string,
    readonly azureCode: string | undefined,
    readonly statusCode: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A version the build was to publish belongs to another build (or to no build of the pipeline). */
export class VersionConflictError extends PipelineError {
  readonly code = "VersionConflict";
  readonly disposition = "deadLetter" as const;
}

/** A build asks for something Azure cannot build or publish (found before any Azure work is spent on it). */
export class UnbuildableImageError extends PipelineError {
  readonly code = "UnbuildableImage";
  readonly disposition = "deadLetter" as const;
}

/** The settings are incomplete or invalid; names every offending setting. Retried: an operator can fix settings. */
export class ConfigurationError extends PipelineError {
  readonly code = "Configuration";
  readonly disposition = "retry" as const;
}

/** No valid catalog could be read from its store (not published yet, unreachable, or invalid from the start). */
export class CatalogUnavailableError extends PipelineError {
  readonly code = "CatalogUnavailable";
  readonly disposition = "retry" as const;
}

/** A build request names the catalog entry hash its requester saw, and the published entry differs. */
export class CatalogEntryChangedError extends PipelineError {
  readonly code = "CatalogEntryChanged";
  readonly disposition = "deadLetter" as const;
  constructor(
    readonly imageName: string,
    readonly requestedCatalogHash: string,
    readonly publishedCatalogHash: string,
  ) {
    super(
      `the published catalog entry of '${imageName}' has hash ${publishedCatalogHash}, not ${requestedCatalogHash} as ` +
        "requested: publish the catalog you mean to build (image-pipeline catalog publish), then ask again with the " +
        "hash it prints, or ask without catalogHash to build the published entry",
    );
  }
}

/** A catalog publish found the published catalog changed since it was read: someone else published in between. */
export class CatalogConflictError extends PipelineError {
  readonly code = "CatalogConflict";
  readonly disposition = "retry" as const;
}

/**
 * The Event Grid topic refused an event batch for a reason sending it again cannot fix (400: the event breaks the
 * topic's schema; 413: it is too large): the events message is dead-lettered with Event Grid's status and message.
 */
export class EventRejectedError extends PipelineError {
  readonly code = "EventRejected";
  readonly disposition = "deadLetter" as const;
  constructor(
    message: string,
    readonly statusCode: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** What an operator's command names does not exist (an image version, an image definition). */
export class NotFoundError extends PipelineError {
  readonly code = "NotFound";
  readonly disposition = "deadLetter" as const;
}

/** An operator's command that Azure's state does not allow (rolling back the only version, promoting a failed one). */
export class OperationNotAllowedError extends PipelineError {
  readonly disposition = "deadLetter" as const;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** How an error is handled, and the code and text to report it with. */
export interface ErrorClassification {
  disposition: ErrorDisposition;
  code: string;
  message: string;
}

/** The one place that decides whether an error is permanent or transient. */
export function classifyError(error: unknown): ErrorClassification {
  if (error instanceof PipelineError) {
    return { disposition: error.disposition, code: error.code, message: error.message };
  }
  if (error instanceof DomainRuleError) return { disposition: "deadLetter", code: error.code, message: error.message };
  if (error instanceof Error) return { disposition: "retry", code: error.name || "Error", message: error.message };
  return { disposition: "retry", code: "Error", message: String(error) };
}

/** True when retrying cannot make the error go away. */
export function isPermanent(error: unknown): boolean {
  return classifyError(error).disposition === "deadLetter";
}
