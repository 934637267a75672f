/**
 * ARM error responses: `{ error: { code, message, target?, details? } }`, with the codes and message formats the real
 * services use (see README.md, "Error codes", for where each one comes from).
 */
export interface ArmErrorBody {
  code: string;
  message: string;
  target?: string;
  details?: ArmErrorBody[];
}

/** An error that the emulator answers as an ARM error response. */
export class ArmError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly target?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ArmError";
  }

  toBody(): { error: ArmErrorBody } {
    return { error: { code: this.code, message: this.message, ...(this.target ? { target: this.target } : {}) } };
  }
}

/** Names of a nested resource as ARM prints them: `gallery/image/version`. */
export function resourceNotFound(resourceType: string, names: string[], resourceGroup: string): ArmError {
  return new ArmError(
    404,
    "ResourceNotFound",
    `The Resource '${resourceType}/${names.join("/")}' under resource group '${resourceGroup}' was not found. ` +
      "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
  );
}

export function parentResourceNotFound(parentNames: string[]): ArmError {
  return new ArmError(
    404,
    "ParentResourceNotFound",
    `Can not perform requested operation on nested resource. Parent resource '${parentNames.join("/")}' not found.`,
  );
}

export function resourceGroupNotFound(resourceGroup: string): ArmError {
  return new ArmError(404, "ResourceGroupNotFound", `Resource group '${resourceGroup}' could not be found.`);
}

export function cannotDeleteResource(nestedIds: string[]): ArmError {
  return new ArmError(
    409,
    "CannotDeleteResource",
    `Cannot delete resource while nested resources exist. Some existing nested resource IDs include: ` +
      `'${nestedIds.slice(0, 3).join("', '")}'. Please delete all nested resources before deleting this resource.`,
  );
}

/** Compute's validation error for a required property left out. */
export function requiredParameterMissing(path: string): ArmError {
  return new ArmError(400, "InvalidParameter", `Required parameter '${path}' is missing (null).`, path);
}

export function invalidParameter(message: string, target?: string): ArmError {
  return new ArmError(400, "InvalidParameter", message, target);
}

export function outOfRange(path: string, value: unknown, min: number, max: number): ArmError {
  return new ArmError(
    400,
    "InvalidParameter",
    `The value ${JSON.stringify(value)} of parameter '${path}' is out of range. ` +
      `The value must be between ${min} and ${max}, inclusive.`,
    path,
  );
}

export function propertyChangeNotAllowed(path: string): ArmError {
  return new ArmError(400, "PropertyChangeNotAllowed", `Changing property '${path}' is not allowed.`, path);
}

/** Image Builder's validation error format (api-version 2021-10-01 and later). */
export function imageBuilderValidationFailed(field: string, detail: string): ArmError {
  return new ArmError(
    400,
    "ValidationFailed",
    `Validation failed: '${field}': ${detail}. Please review http://aka.ms/azvmimagebuildertmplref for details on ` +
      "fields requirements in the Image Builder Template.",
  );
}

/** ARM's answer to a write into a resource group that is being deleted. */
export function resourceGroupBeingDeleted(resourceGroup: string): ArmError {
  return new ArmError(
    409,
    "ResourceGroupBeingDeleted",
    `The resource group '${resourceGroup}' is in deprovisioning state and cannot perform this operation.`,
  );
}

/** Gallery RP answer to an update of a version that is being deleted (troubleshooting-shared-images.md). */
export function markedForDeletion(operation: string, name: string): ArmError {
  return new ArmError(
    409,
    "OperationNotAllowed",
    `Operation '${operation}' is not allowed on ${name}; since it is marked for deletion. You can only retry the ` +
      "Delete operation (or wait for an ongoing one to complete).",
  );
}
