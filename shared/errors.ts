/**
 * The few error classes callers react to differently. Everything else is a plain `Error` and is treated as
 * transient: the message is abandoned and Service Bus redelivers it, dead-lettering after its max delivery count.
 */

/** What a queue handler does with a message whose processing threw this error. */
export type ErrorDisposition = "retry" | "deadLetter" | "drop";

/** Base class: `code` is stable and machine-readable, `disposition` tells a queue handler what to do. */
export abstract class PipelineError extends Error {
  abstract readonly code: string;
  abstract readonly disposition: ErrorDisposition;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input that can never be processed as it is (schema violation, unknown image): dead-letter at once, do not retry. */
export class InvalidInputError extends PipelineError {
  readonly code = "InvalidInput";
  readonly disposition = "deadLetter" as const;
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
 * Azure refused the request for a reason retrying will not fix (400, 403, 404 of a source, a conflict with another
 * build's version). The build fails with this reason instead of being retried.
 */
export class PermanentAzureError extends PipelineError {
  readonly code: string;
  readonly disposition = "deadLetter" as const;
  constructor(
    message: string,
    readonly azureCode: string | undefined,
    readonly statusCode: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = "PermanentAzureError";
  }
}

/** The settings are incomplete or invalid; names every offending setting. */
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
