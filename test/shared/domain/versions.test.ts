import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  INT32_MAX,
  VersionOverflowError,
  allocateVersion,
  compareVersions,
  formatVersion,
  parseVersion,
  parseVersionStrict,
} from "../../../shared/domain/versions.js";
import type { VersioningScheme } from "../../../shared/domain/versions.js";

const semver: VersioningScheme = { scheme: "semver", major: 1, minor: 4 };
const now = new Date("2026-11-23T09:30:00Z");

describe("version names", () => {
  it("parse Major.Minor.Patch up to int32 and reject anything else", () => {
    expect(parseVersion("1.2.3")).toEqual({ major: 1, minor: 2, patch: 3 });
    expect(parseVersion(`${INT32_MAX}.0.${INT32_MAX}`)).toEqual({ major: INT32_MAX, minor: 0, patch: INT32_MAX });
    for (const bad of ["2147483648.0.0", "1.2", "1.2.3.4", "latest", "-1.0.0", "1.a.0", " 1.0.0", "1..0", ""]) {
      expect(parseVersion(bad), bad).toBeUndefined();
    }
  });

  it("read leading zeros numerically but format canonically", () => {
    expect(parseVersion("01.002.3")).toEqual({ major: 1, minor: 2, patch: 3 });
    expect(formatVersion({ major: 1, minor: 2, patch: 3 })).toBe("1.2.3");
    expect(() => parseVersionStrict("01.0.0")).toThrow(/Major\.Minor\.Patch/);
    expect(parseVersionStrict("0.0.0")).toEqual({ major: 0, minor: 0, patch: 0 });
  });

  it("refuse to format a component outside int32", () => {
    expect(() => formatVersion({ major: INT32_MAX + 1, minor: 0, patch: 0 })).toThrow(RangeError);
    expect(() => formatVersion({ major: 1.5, minor: 0, patch: 0 })).toThrow(RangeError);
  });

  it("compare numerically, not as text", () => {
    expect(compareVersions("1.10.0", "1.9.0")).toBeGreaterThan(0);
    expect(compareVersions("2.0.0", "10.0.0")).toBeLessThan(0);
    expect(compareVersions("1.0.07", "1.0.7")).toBe(0);
  });
});

describe("allocateVersion", () => {
  const base = { versioning: semver, existingVersions: [], reservations: [], buildId: "b-1", now };

  it("starts a semver line at patch 0", () => {
    expect(allocateVersion(base)).toBe("1.4.0");
  });

  it("takes the patch after the highest existing or reserved version of the line, ignoring other lines", () => {
    const version = allocateVersion({
      ...base,
      existingVersions: ["1.4.0", "1.4.7", "1.5.99", "2.0.0", "not-a-version", "1.4.02"],
      reservations: [{ buildId: "b-other", version: "1.4.8" }],
    });
    expect(version).toBe("1.4.9");
  });

  it("gives a retried build the version it reserved", () => {
    const version = allocateVersion({
      ...base,
      existingVersions: ["1.4.0", "1.4.1"],
      reservations: [{ buildId: "b-1", version: "1.4.1" }],
    });
    expect(version).toBe("1.4.1");
  });

  it("numbers date versions YYYY.MMDD.N in UTC", () => {
    const late = new Date("2026-01-05T23:59:59-05:00"); // 2026-01-06 in UTC
    expect(allocateVersion({ ...base, versioning: { scheme: "date" }, now: late })).toBe("2026.106.0");
    expect(
      allocateVersion({ ...base, versioning: { scheme: "date" }, existingVersions: ["2026.1123.0", "2026.1123.1"] }),
    ).toBe("2026.1123.2");
  });

  it("throws VersionOverflowError when the line is exhausted", () => {
    expect(() => allocateVersion({ ...base, existingVersions: [`1.4.${INT32_MAX}`] })).toThrow(VersionOverflowError);
  });
});

const component = fc.integer({ min: 0, max: INT32_MAX });
const smallComponent = fc.integer({ min: 0, max: 5 });
const versionArb = fc
  .tuple(fc.oneof(smallComponent, component), fc.oneof(smallComponent, component), fc.oneof(smallComponent, component))
  .map(([major, minor, patch]) => formatVersion({ major, minor, patch }));
const versioningArb: fc.Arbitrary<VersioningScheme> = fc.oneof(
  fc.record({ scheme: fc.constant("semver" as const), major: smallComponent, minor: smallComponent }),
  fc.constant({ scheme: "date" as const }),
);
const dateArb = fc.date({
  min: new Date("2000-01-01T00:00:00Z"),
  max: new Date("2100-12-31T23:59:59Z"),
  noInvalidDate: true,
});
const allocationArb = fc.record({
  versioning: versioningArb,
  existingVersions: fc.array(versionArb, { maxLength: 20 }),
  reservations: fc.array(fc.record({ buildId: fc.string({ minLength: 1, maxLength: 6 }), version: versionArb }), {
    maxLength: 5,
  }),
  buildId: fc.string({ minLength: 1, maxLength: 6 }),
  now: dateArb,
});

function tryAllocate(input: Parameters<typeof allocateVersion>[0]): string | VersionOverflowError {
  try {
    return allocateVersion(input);
  } catch (error) {
    if (error instanceof VersionOverflowError) return error;
    throw error;
  }
}

describe("allocateVersion properties", () => {
  it("allocates above every existing and reserved version of its line, within int32, without collision", () => {
    fc.assert(
      fc.property(allocationArb, (input) => {
        fc.pre(!input.reservations.some((r) => r.buildId === input.buildId));
        const result = tryAllocate(input);
        if (result instanceof VersionOverflowError) return;
        const allocated = parseVersion(result);
        expect(allocated).toBeDefined();
        expect(formatVersion(allocated!)).toBe(result);
        const taken = [...input.existingVersions, ...input.reservations.map((r) => r.version)];
        for (const other of taken) {
          const v = parseVersion(other)!;
          expect(compareVersions(other, result)).not.toBe(0);
          if (v.major === allocated!.major && v.minor === allocated!.minor) {
            expect(compareVersions(result, other)).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("is deterministic and reuses a build's reservation", () => {
    fc.assert(
      fc.property(allocationArb, versionArb, (input, reserved) => {
        expect(tryAllocate(input)).toEqual(tryAllocate({ ...input }));
        const withOwn = {
          ...input,
          reservations: [...input.reservations, { buildId: input.buildId, version: reserved }],
        };
        const own = input.reservations.find((r) => r.buildId === input.buildId)?.version ?? reserved;
        expect(allocateVersion(withOwn)).toBe(own);
      }),
      { numRuns: 1000 },
    );
  });

  it("overflows only when the line's highest patch is int32's maximum", () => {
    fc.assert(
      fc.property(
        smallComponent,
        smallComponent,
        fc.integer({ min: INT32_MAX - 3, max: INT32_MAX }),
        (major, minor, patch) => {
          const result = tryAllocate({
            versioning: { scheme: "semver", major, minor },
            existingVersions: [formatVersion({ major, minor, patch })],
            reservations: [],
            buildId: "b",
            now,
          });
          if (patch === INT32_MAX) expect(result).toBeInstanceOf(VersionOverflowError);
          else expect(result).toBe(formatVersion({ major, minor, patch: patch + 1 }));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
