/** Azure region short names to the display names the gallery service echoes in `targetRegions[].name`. */
const regionDisplayNames: Record<string, string> = {
  eastus: "East US",
  eastus2: "East US 2",
  westus: "West US",
  westus2: "West US 2",
  westus3: "West US 3",
  centralus: "Central US",
  northcentralus: "North Central US",
  southcentralus: "South Central US",
  westcentralus: "West Central US",
  canadacentral: "Canada Central",
  canadaeast: "Canada East",
  brazilsouth: "Brazil South",
  northeurope: "North Europe",
  westeurope: "West Europe",
  uksouth: "UK South",
  ukwest: "UK West",
  francecentral: "France Central",
  germanywestcentral: "Germany West Central",
  swedencentral: "Sweden Central",
  switzerlandnorth: "Switzerland North",
  norwayeast: "Norway East",
  polandcentral: "Poland Central",
  italynorth: "Italy North",
  spaincentral: "Spain Central",
  eastasia: "East Asia",
  southeastasia: "Southeast Asia",
  japaneast: "Japan East",
  japanwest: "Japan West",
  koreacentral: "Korea Central",
  centralindia: "Central India",
  southindia: "South India",
  australiaeast: "Australia East",
  australiasoutheast: "Australia Southeast",
  southafricanorth: "South Africa North",
  southafricawest: "South Africa West",
  uaenorth: "UAE North",
  uaecentral: "UAE Central",
  centraluseuap: "Central US EUAP",
  eastus2euap: "East US 2 EUAP",
  brazilsoutheast: "Brazil Southeast",
  francesouth: "France South",
  germanynorth: "Germany North",
  norwaywest: "Norway West",
  switzerlandwest: "Switzerland West",
  swedensouth: "Sweden South",
  koreasouth: "Korea South",
  jioindiawest: "Jio India West",
  westindia: "West India",
  australiacentral: "Australia Central",
  qatarcentral: "Qatar Central",
  israelcentral: "Israel Central",
  mexicocentral: "Mexico Central",
  newzealandnorth: "New Zealand North",
};

/** `West Europe`, `westeurope` and `WestEurope` all normalise to `westeurope`. */
export function normalizeRegion(name: string): string {
  return name.replace(/\s+/g, "").toLowerCase();
}

export function regionDisplayName(name: string): string {
  return regionDisplayNames[normalizeRegion(name)] ?? name;
}

export function sameRegion(a: string, b: string): boolean {
  return normalizeRegion(a) === normalizeRegion(b);
}

/** Case-insensitive glob with `*` wildcards; an absent pattern matches everything. */
export function globMatches(pattern: string | undefined, value: string): boolean {
  if (pattern === undefined) return true;
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`, "i").test(value);
}

const int32Max = 2_147_483_647;

/** Parses a gallery image version name `Major.Minor.Patch` (each an int32), or undefined when malformed. */
export function parseVersionName(name: string): [number, number, number] | undefined {
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(name);
  if (!match) return undefined;
  const parts = [Number(match[1]), Number(match[2]), Number(match[3])] as [number, number, number];
  return parts.every((p) => p <= int32Max) ? parts : undefined;
}

export function compareVersionNames(a: string, b: string): number {
  const pa = parseVersionName(a) ?? [0, 0, 0];
  const pb = parseVersionName(b) ?? [0, 0, 0];
  return pa[0] - pb[0] || pa[1] - pb[1] || pa[2] - pb[2];
}

/** Platform image versions are dotted numbers of any length (`20348.3091.250112`). */
export function comparePlatformVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
