/**
 * Gallery image version names: `Major.Minor.Patch`, each component a non-negative 32-bit signed integer.
 *
 * Parsing is numeric and tolerant of leading zeros (`1.02.3` reads as 1.2.3) because galleries may hold versions
 * created by other tools; formatting always emits the canonical form without leading zeros. Two names that differ
 * only by leading zeros compare equal, so a version allocated "after" them never collides with either.
 */

import { DomainRuleError } from "./errors.js";

/** Largest value of one version component (Azure: each component is an int32). */
export const INT32_MAX = 2_147_483_647;

/** A parsed gallery image version name. */
export interface ImageVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** How the pipeline numbers the versions of one image (the catalog's `versioning`). */
export type VersioningScheme = { scheme: "semver"; major: number; minor: number } | { scheme: "date" };

/** A version already promised to a build that has not published it yet. */
export interface VersionReservation {
  buildId: string;
  version: string;
}

/** Thrown when the next version of a line would not fit in an int32 component. */
export class VersionOverflowError extends DomainRuleError {
  readonly code = "VersionOverflow";
  constructor(readonly line: string) {
    super(
      `version line ${line}.* is exhausted: the next patch would exceed ${INT32_MAX}; raise the catalog's versioning.minor (or major)`,
    );
  }
}

/** Thrown by {@link parseVersionStrict} for a name that is not a canonical `Major.Minor.Patch`. */
export class InvalidVersionError extends DomainRuleError {
  readonly code = "InvalidVersion";
  constructor(readonly text: string) {
    super(`"${text}" is not a version name of the form Major.Minor.Patch (each 0..${INT32_MAX})`);
  }
}

const versionPattern = /^(\d{1,10})\.(\d{1,10})\.(\d{1,10})$/;
const canonicalPattern = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** Parses `Major.Minor.Patch` (leading zeros tolerated); `undefined` for anything else or an out-of-range part. */
export function parseVersion(text: string): ImageVersion | undefined {
  const m = versionPattern.exec(text);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (major > INT32_MAX || minor > INT32_MAX || patch > INT32_MAX) return undefined;
  return { major, minor, patch };
}

/** Parses a canonical version name (no leading zeros) or throws {@link InvalidVersionError}. */
export function parseVersionStrict(text: string): ImageVersion {
  const v = canonicalPattern.test(text) ? parseVersion(text) : undefined;
  if (!v) throw new InvalidVersionError(text);
  return v;
}

/** Canonical text of a version. */
export function formatVersion(v: ImageVersion): string {
  for (const part of [v.major, v.minor, v.patch]) {
    if (!Number.isInteger(part) || part < 0 || part > INT32_MAX) {
      throw new RangeError(`version component ${part} is outside 0..${INT32_MAX}`);
    }
  }
  return `${v.major}.${v.minor}.${v.patch}`;
}

/** Orders versions numerically (negative: a < b). Accepts names or parsed versions; names must parse. */
export function compareVersions(a: ImageVersion | string, b: ImageVersion | string): number {
  const va = typeof a === "string" ? parseVersion(a) : a;
  const vb = typeof b === "string" ? parseVersion(b) : b;
  if (!va) throw new InvalidVersionError(String(a));
  if (!vb) throw new InvalidVersionError(String(b));
  return va.major - vb.major || va.minor - vb.minor || va.patch - vb.patch;
}

/** The `Major.Minor` line a new version of this image belongs to at `now` (UTC for the date scheme). */
export function versionLine(versioning: VersioningScheme, now: Date): { major: number; minor: number } {
  if (versioning.scheme === "semver") return { major: versioning.major, minor: versioning.minor };
  return { major: now.getUTCFullYear(), minor: (now.getUTCMonth() + 1) * 100 + now.getUTCDate() };
}

/** Input of {@link allocateVersion}. */
export interface AllocateVersionInput {
  versioning: VersioningScheme;
  /** Names of the versions in the image definition (any form; names that are not versions are ignored). */
  existingVersions: readonly string[];
  /** Versions promised to builds in flight. */
  reservations: readonly VersionReservation[];
  buildId: string;
  now: Date;
}

/**
 * Picks the version a build publishes. A build that already holds a reservation gets it back (a retried build
 * reuses its version); otherwise the next patch after the highest existing or reserved version of the line
 * (semver: the catalog's `major.minor`; date: `YYYY.MMDD` of `now` in UTC), starting at patch 0.
 * Deterministic for the same input. Throws {@link VersionOverflowError} when the line is exhausted.
 */
export function allocateVersion(input: AllocateVersionInput): string {
  const own = input.reservations.find((r) => r.buildId === input.buildId);
  if (own) return own.version;
  const line = versionLine(input.versioning, input.now);
  let highest = -1;
  for (const name of [...input.existingVersions, ...input.reservations.map((r) => r.version)]) {
    const v = parseVersion(name);
    if (v && v.major === line.major && v.minor === line.minor && v.patch > highest) highest = v.patch;
  }
  if (highest >= INT32_MAX) throw new VersionOverflowError(`${line.major}.${line.minor}`);
  return formatVersion({ ...line, patch: highest + 1 });
}

/** Orders Marketplace versions such as `24.04.202411030` (parts may exceed a gallery version's int32). */
export function compareDottedNumbers(a: string, b: string): number {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = BigInt(/^\d+$/.test(pa[i] ?? "") ? pa[i]! : "0");
    const y = BigInt(/^\d+$/.test(pb[i] ?? "") ? pb[i]! : "0");
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
