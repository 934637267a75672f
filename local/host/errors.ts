/**
 * The function table or host configuration asks for something the local host cannot run (a missing setting, an
 * unsupported trigger option, an invalid schedule). Thrown by `startLocalHost` before anything starts listening.
 */
export class LocalHostConfigurationError extends Error {
  readonly code = "LocalHostConfiguration";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LocalHostConfigurationError";
  }
}
