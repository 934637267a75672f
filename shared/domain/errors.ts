/**
 * A rule of the pipeline's domain that an input breaks: retrying the same input can never succeed. Pure (no SDK, no
 * I/O), so the domain can throw it; `shared/errors.ts` classifies it as permanent in one place.
 */
export abstract class DomainRuleError extends Error {
  /** Stable, machine-readable, PascalCase (as Azure's error codes). */
  abstract readonly code: string;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
