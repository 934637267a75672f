import type { CatalogImage } from "../catalog/schema.js";
import type { PriceTable, ReplicaStorageType } from "../catalog/priceTable.js";
import { homeRegionOf, normalizeRegion } from "./gallery.js";
import { occurrencesBetween } from "./ncrontab.js";

/*
 * The steady state a catalog leads to, from each image's schedule, retention and distribution, against Compute
 * Gallery's published limits (azure-compute-gallery.md, "Limits": per subscription and region, 100 galleries, 1,000
 * image definitions and 10,000 image versions; 100 replicas per image version) and priced as Compute Gallery bills
 * replicas: one snapshot of the version's occupied size per replica, in every region ("Billing").
 *
 * Steady state: a version is kept while it is younger than its end of life (retention.endOfLifeDays) or its minimum
 * age, or is among the newest keepLatest; so the gallery holds the builds of the last max(endOfLifeDays, minAgeDays)
 * days, at least keepLatest. Every scheduled build is counted as a version (skipIfUnchanged may skip some: the
 * forecast is an upper bound), and pruning is assumed to keep up. A version lives in its definition's region (the
 * gallery's), so it counts against that region's limit wherever it is replicated.
 */

/** Compute Gallery's limits (Microsoft Learn, "Store and share resources in an Azure Compute Gallery", "Limits"). */
export const galleryLimits = {
  galleriesPerSubscriptionRegion: 100,
  definitionsPerSubscriptionRegion: 1000,
  versionsPerSubscriptionRegion: 10_000,
  replicasPerVersion: 100,
} as const;

/** Builds are counted in a fixed window starting here, so a forecast is the same whenever it runs. */
export const forecastWindowStart = new Date("2027-01-01T00:00:00Z");
/** Counting stops past this many builds in a window: already beyond any limit. */
const maxCountedBuilds = 20_001;
const dayInMs = 86_400_000;

/**
 * Occupied size assumed for an image without one in the price table or the catalog: the OS disk Azure's platform
 * images usually come with (Linux 30 GB, Windows 127 GB). An upper bound: the occupied size is what is billed.
 */
const usualOsDiskInGB = { Linux: 30, Windows: 127 } as const;

/** One region's replicas of a version. */
export interface ForecastRegion {
  region: string;
  replicas: number;
  storageAccountType: ReplicaStorageType;
}

/** The steady state of one image. */
export interface ImageForecast {
  image: string;
  subscriptionId: string;
  gallery: string;
  resourceGroup: string;
  definition: string;
  /** The gallery's region: its versions count there. */
  region: string;
  /** False when the image has no schedule: only its keepLatest versions are counted (on-demand builds are not). */
  scheduled: boolean;
  /** Days a version stays: max(endOfLifeDays, minAgeDays). */
  keptForDays: number;
  /** Scheduled builds within `keptForDays` (capped: see `buildsCapped`). */
  buildsKept: number;
  buildsCapped: boolean;
  /** Versions the definition holds in the steady state. */
  versions: number;
  /** Of them, with every replica (not yet superseded per the shrink policy). */
  fullVersions: number;
  /** Of them, shrunk per retention.shrinkSuperseded. */
  shrunkVersions: number;
  fullRegions: ForecastRegion[];
  shrunkRegions: ForecastRegion[];
  /** Occupied size of one replica, and where the figure came from. */
  sizeInGB: number;
  sizeFrom: "price table" | "build.osDiskSizeGB" | "usual OS disk";
  /** Snapshot storage a month: replicas × size. */
  replicaGBMonths: number;
  monthlyCost: number;
}

/** Counts per subscription and region, against the limits. */
export interface RegionForecast {
  subscriptionId: string;
  region: string;
  galleries: number;
  definitions: number;
  versions: number;
}

/** A limit the steady state would exceed. */
export interface LimitWarning {
  limit: keyof typeof galleryLimits;
  max: number;
  forecast: number;
  /** `<subscription>/<region>`, or the image for a per-version limit. */
  scope: string;
  message: string;
}

export interface CatalogForecast {
  currency: string;
  images: ImageForecast[];
  regions: RegionForecast[];
  totals: { versions: number; replicaGBMonths: number; monthlyCost: number };
  warnings: LimitWarning[];
}

const round2 = (n: number) => Math.round(n * 100) / 100;

function regionsOf(image: CatalogImage): ForecastRegion[] {
  return image.distribution.targetRegions.map((r) => ({
    region: r.name,
    replicas: r.regionalReplicaCount ?? image.distribution.replicaCount,
    storageAccountType: r.storageAccountType ?? image.distribution.storageAccountType,
  }));
}

/** The regions a superseded version keeps, as shared/domain/shrink.ts leaves them. */
function shrunkRegionsOf(image: CatalogImage, full: ForecastRegion[]): ForecastRegion[] {
  const policy = image.retention.shrinkSuperseded;
  if (!policy) return full;
  const home = normalizeRegion(homeRegionOf(image));
  const kept = policy.keepRegions === "home" ? full.filter((r) => normalizeRegion(r.region) === home) : full;
  // A version whose home region is not a target region is left as it is.
  if (kept.length === 0) return full;
  return kept.map((r) => ({ ...r, replicas: Math.min(r.replicas, policy.regionalReplicaCount) }));
}

function sizeOf(image: CatalogImage, prices: PriceTable): Pick<ImageForecast, "sizeInGB" | "sizeFrom"> {
  const priced = prices.imageSizeInGB[image.name] ?? prices.imageSizeInGB["default"];
  if (priced !== undefined) return { sizeInGB: priced, sizeFrom: "price table" };
  if (image.build.osDiskSizeGB !== undefined)
    return { sizeInGB: image.build.osDiskSizeGB, sizeFrom: "build.osDiskSizeGB" };
  return { sizeInGB: usualOsDiskInGB[image.definition.osType], sizeFrom: "usual OS disk" };
}

const replicasOf = (regions: readonly ForecastRegion[]) => regions.reduce((n, r) => n + r.replicas, 0);

/** GB-months and cost a month of one version's replicas. */
function monthOf(regions: readonly ForecastRegion[], sizeInGB: number, prices: PriceTable) {
  return regions.reduce(
    (sum, r) => ({
      gbMonths: sum.gbMonths + r.replicas * sizeInGB,
      cost: sum.cost + r.replicas * sizeInGB * prices.perGBMonth[r.storageAccountType],
    }),
    { gbMonths: 0, cost: 0 },
  );
}

/** The steady state of one image. */
export function forecastImage(image: CatalogImage, prices: PriceTable, defaultSubscriptionId: string): ImageForecast {
  const { retention } = image;
  const keptForDays = Math.max(retention.endOfLifeDays, retention.minAgeDays);
  const windowEnd = new Date(forecastWindowStart.getTime() + keptForDays * dayInMs);
  const builds = image.schedule
    ? occurrencesBetween(image.schedule.cron, forecastWindowStart, windowEnd, maxCountedBuilds).length
    : 0;
  const versions = Math.max(retention.keepLatest, builds);
  const afterNewer = retention.shrinkSuperseded?.afterNewerVersions;
  // The newest `afterNewerVersions` have fewer newer versions than the policy waits for; the rest are superseded.
  const fullVersions = afterNewer === undefined ? versions : Math.min(versions, afterNewer);
  const shrunkVersions = versions - fullVersions;
  const fullRegions = regionsOf(image);
  const shrunkRegions = shrunkRegionsOf(image, fullRegions);
  const size = sizeOf(image, prices);
  const full = monthOf(fullRegions, size.sizeInGB, prices);
  const shrunk = monthOf(shrunkRegions, size.sizeInGB, prices);
  return {
    image: image.name,
    subscriptionId: image.gallery.subscriptionId ?? defaultSubscriptionId,
    gallery: image.gallery.name,
    resourceGroup: image.gallery.resourceGroup,
    definition: image.definition.name ?? image.name,
    region: normalizeRegion(homeRegionOf(image)),
    scheduled: image.schedule !== undefined,
    keptForDays,
    buildsKept: builds,
    buildsCapped: builds >= maxCountedBuilds,
    versions,
    fullVersions,
    shrunkVersions,
    fullRegions,
    shrunkRegions,
    ...size,
    replicaGBMonths: round2(fullVersions * full.gbMonths + shrunkVersions * shrunk.gbMonths),
    monthlyCost: round2(fullVersions * full.cost + shrunkVersions * shrunk.cost),
  };
}

/**
 * The catalog's steady state: per image, per subscription and region (galleries, definitions, versions), totals, and
 * a warning for each limit it would exceed. `defaultSubscriptionId` stands for images that name no subscription.
 */
export function forecastCatalog(
  images: readonly CatalogImage[],
  prices: PriceTable,
  defaultSubscriptionId = "default",
): CatalogForecast {
  const forecasts = images.map((i) => forecastImage(i, prices, defaultSubscriptionId));
  const byRegion = new Map<string, { f: RegionForecast; galleries: Set<string>; definitions: Set<string> }>();
  for (const f of forecasts) {
    const key = `${f.subscriptionId.toLowerCase()}/${f.region}`;
    let entry = byRegion.get(key);
    if (!entry) {
      entry = {
        f: { subscriptionId: f.subscriptionId, region: f.region, galleries: 0, definitions: 0, versions: 0 },
        galleries: new Set(),
        definitions: new Set(),
      };
      byRegion.set(key, entry);
    }
    const gallery = `${f.resourceGroup}/${f.gallery}`.toLowerCase();
    entry.galleries.add(gallery);
    entry.definitions.add(`${gallery}/${f.definition.toLowerCase()}`);
    entry.f.versions += f.versions;
  }
  const regions = [...byRegion.values()].map(({ f, galleries, definitions }) => ({
    ...f,
    galleries: galleries.size,
    definitions: definitions.size,
  }));

  const warnings: LimitWarning[] = [];
  const check = (limit: keyof typeof galleryLimits, forecast: number, scope: string, what: string) => {
    const max = galleryLimits[limit];
    if (forecast > max) {
      warnings.push({
        limit,
        max,
        forecast,
        scope,
        message: `${scope}: ${what} ${forecast.toLocaleString("en-US")} exceeds Azure's limit of ${max.toLocaleString("en-US")}`,
      });
    }
  };
  for (const r of regions) {
    const scope = `${r.subscriptionId}/${r.region}`;
    check("galleriesPerSubscriptionRegion", r.galleries, scope, "galleries");
    check("definitionsPerSubscriptionRegion", r.definitions, scope, "image definitions");
    check("versionsPerSubscriptionRegion", r.versions, scope, "steady-state image versions");
  }
  for (const f of forecasts) check("replicasPerVersion", replicasOf(f.fullRegions), f.image, "replicas per version");

  return {
    currency: prices.currency,
    images: forecasts,
    regions,
    totals: {
      versions: forecasts.reduce((n, f) => n + f.versions, 0),
      replicaGBMonths: round2(forecasts.reduce((n, f) => n + f.replicaGBMonths, 0)),
      monthlyCost: round2(forecasts.reduce((n, f) => n + f.monthlyCost, 0)),
    },
    warnings,
  };
}
