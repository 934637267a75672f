import { PermanentAzureError } from "../errors.js";

/**
 * A `RestError` of `@azure/core-rest-pipeline`, recognised by shape: importing the pipeline to use its own check
 * would load the ARM HTTP stack on paths (the webhook) that never call ARM.
 */
function isRestError(error: unknown): error is Error & { statusCode?: number; code?: string } {
  return error instanceof Error && error.name === "RestError";
}

/**
 * Status codes that retrying will not fix. 429, 408 and 5xx are retried by the SDK's policy first, then by Service
 * Bus redelivery; 409 is left to the caller (a conflict is often a race another read resolves).
 */
const permanentStatusCodes = new Set([400, 401, 403, 404, 405, 413, 422]);

/** True when an ARM call answered 404 (the resource, or its parent, does not exist). */
export function isNotFound(error: unknown): boolean {
  return isRestError(error) && error.statusCode === 404;
}

/** Rethrows an ARM error as PermanentAzureError when retrying cannot help, with ARM's code and message. */
export function classifyArmError(error: unknown, action: string): never {
  if (isRestError(error) && error.statusCode !== undefined && permanentStatusCodes.has(error.statusCode)) {
    throw new PermanentAzureError(
      `${action}: ${error.code ?? error.statusCode} ${error.message}`,
      error.code,
      error.statusCode,
      { cause: error },
    );
  }
  throw error;
}

/** Runs an ARM call, classifying its failure. */
export async function armCall<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    classifyArmError(error, action);
  }
}

/** Runs a GET; a 404 means the resource does not exist. */
export async function armGet<T>(action: string, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    classifyArmError(error, action);
  }
}
