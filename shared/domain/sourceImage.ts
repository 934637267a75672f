import type { CatalogImage } from "../catalog/schema.js";
import { effectiveSecurityType, isTrustedLaunchCapable, securityTypeOf } from "./securityType.js";

/** What Azure says of the image a build starts from (platform image version, managed image, gallery definition). */
export interface SourceImageFacts {
  /** The exact version the build would start from, when the source has versions (`latest` resolved). */
  exactVersion?: string;
  hyperVGeneration?: "V1" | "V2";
  osType?: "Linux" | "Windows";
  architecture?: "x64" | "Arm64";
  /** The source's `SecurityType` feature (`TrustedLaunchSupported`, `TrustedLaunch`, ...), when it declares one. */
  securityType?: string;
}

/**
 * Why the source cannot become a version of the image's definition, checked before a build starts so that no
 * hours-long Image Builder run is spent on a version the gallery would refuse: a version's OS type, Hyper-V
 * generation and architecture must match its definition's (Compute Gallery docs, "image definitions"; Image Builder
 * makes its output with the source's generation). An empty list means no rule is broken.
 */
export function sourceProblems(image: CatalogImage, source: SourceImageFacts): string[] {
  const problems: string[] = [];
  const d = image.definition;
  if (source.osType !== undefined && source.osType !== d.osType) {
    problems.push(`the source image is ${source.osType} but the image definition is ${d.osType}`);
  }
  if (source.hyperVGeneration !== undefined && source.hyperVGeneration !== d.hyperVGeneration) {
    problems.push(
      `the source image is Hyper-V generation ${source.hyperVGeneration} but the image definition is ${d.hyperVGeneration}: Image Builder makes its output with the source's generation`,
    );
  }
  if (source.architecture !== undefined && source.architecture !== d.architecture) {
    problems.push(`the source image is ${source.architecture} but the image definition is ${d.architecture}`);
  }
  const target = effectiveSecurityType(d.features, d.hyperVGeneration);
  if (target === "TrustedLaunch" || target === "ConfidentialVM") {
    problems.push(`the image definition's security type ${target} cannot receive Image Builder output`);
  } else if (source.securityType === "TrustedLaunch" || source.securityType === "ConfidentialVM") {
    problems.push(
      `the source image's security type is ${source.securityType}: Image Builder cannot build from it (use a source that is TrustedLaunchSupported)`,
    );
  } else if (source.securityType !== undefined) {
    // Image Builder requires source and gallery target to agree on Trusted Launch support (image-builder-overview.md).
    // A source that declares no security type is not judged here: Image Builder refuses a mismatch at the template's
    // creation, before any run, so nothing is wasted either way.
    if (isTrustedLaunchCapable(source.securityType) !== isTrustedLaunchCapable(target)) {
      problems.push(
        `the source image's security type is ${source.securityType} but the image definition's is ${target}: Image Builder needs both to support Trusted Launch, or neither${securityTypeOf(d.features) === undefined ? " (a Gen2 definition without a SecurityType feature is TrustedLaunchSupported by Azure's default: declare SecurityType Standard for a standard image)" : ""}`,
      );
    }
  }
  return problems;
}
