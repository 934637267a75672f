/**
 * Security types of a gallery image definition (its `SecurityType` feature). The "...Supported" types let a version
 * be deployed as a standard or a Trusted Launch (or confidential) VM, and accept any source; `TrustedLaunch` and
 * `ConfidentialVM` definitions only deploy as such, need a VM, disk, snapshot or gallery version as source (never a
 * managed image), and Image Builder cannot write to them (trusted-launch.md; image-builder-overview.md).
 */
export const securityTypes = [
  "Standard",
  "TrustedLaunchSupported",
  "TrustedLaunchAndConfidentialVmSupported",
  "TrustedLaunch",
  "ConfidentialVM",
  "ConfidentialVmSupported",
] as const;
export type SecurityType = (typeof securityTypes)[number];

/** Security types that let a VM made from the image use Trusted Launch (and, for some, confidential computing). */
const trustedLaunchCapable = new Set([
  "trustedlaunchsupported",
  "trustedlaunchandconfidentialvmsupported",
  "confidentialvmsupported",
]);

/** True for the "...Supported" security types. */
export function isTrustedLaunchCapable(securityType: string): boolean {
  return trustedLaunchCapable.has(securityType.toLowerCase());
}

/**
 * A definition's security type as Azure holds it: the declared `SecurityType` feature, else Azure's default, which
 * since api-version 2025-03-03 is `TrustedLaunchSupported` for a Gen2 definition (Compute Gallery "what's new", July
 * 2025) and `Standard` for Gen1 (Trusted Launch needs Gen2).
 */
export function effectiveSecurityType(
  features: readonly { name: string; value: string }[],
  hyperVGeneration: "V1" | "V2",
): string {
  return securityTypeOf(features) ?? (hyperVGeneration === "V2" ? "TrustedLaunchSupported" : "Standard");
}

/** Security types an Image Builder run can distribute to (a definition whose feature is one of these, or none). */
export const imageBuilderSecurityTypes: readonly string[] = [
  "Standard",
  "TrustedLaunchSupported",
  "TrustedLaunchAndConfidentialVmSupported",
];

/** The `SecurityType` feature's value, or undefined when the definition declares none (a standard image). */
export function securityTypeOf(features: readonly { name: string; value: string }[]): string | undefined {
  return features.find((f) => f.name.toLowerCase() === "securitytype")?.value;
}
