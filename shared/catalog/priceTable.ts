import * as z from "zod";

/*
 * What the forecast prices replicas with. Compute Gallery charges nothing for itself: each replica of an image
 * version is billed as a snapshot of the version's occupied size, in each region it is replicated to
 * (azure-compute-gallery.md, "Billing"). Snapshot prices differ by region and change over time, so the defaults below
 * are only a starting point (README "Forecast"): a price file replaces any of them, and the forecast never asks the
 * network.
 */

const price = z.number().min(0).max(1000);
const sizeInGB = z.number().positive().max(4096);

/** A price file (`forecast --prices <file>`): every field optional, merged over the defaults. */
export const priceTableFileSchema = z.strictObject({
  /** ISO 4217 code the prices are in. */
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD or EUR")
    .optional(),
  /** Price of one GB-month of snapshot storage, by the replica's storage account type. */
  perGBMonth: z
    .strictObject({
      Standard_LRS: price.optional(),
      Standard_ZRS: price.optional(),
      Premium_LRS: price.optional(),
      PremiumV2_LRS: price.optional(),
    })
    .optional(),
  /**
   * Occupied size of one replica in GB, by catalog image name (`default` for the others). Without one the forecast
   * takes the build's OS disk size, else the usual OS disk of the platform's images: an upper bound, since a replica
   * is billed for what it occupies only.
   */
  imageSizeInGB: z.record(z.string(), sizeInGB).optional(),
});
export type PriceTableFile = z.infer<typeof priceTableFileSchema>;

/** The storage account types a replica can have. */
export type ReplicaStorageType = keyof NonNullable<PriceTableFile["perGBMonth"]>;

/** Prices and sizes the forecast uses. */
export interface PriceTable {
  currency: string;
  perGBMonth: Record<ReplicaStorageType, number>;
  imageSizeInGB: Readonly<Record<string, number>>;
}

/**
 * Default snapshot prices per GB-month (USD, pay-as-you-go, a US region): Standard HDD LRS snapshots cost about
 * $0.05/GB-month; ZRS and premium snapshots cost more. Check the managed disks pricing page for your regions and put
 * your own in a price file.
 */
export const defaultPriceTable: PriceTable = {
  currency: "USD",
  perGBMonth: { Standard_LRS: 0.05, Standard_ZRS: 0.06, Premium_LRS: 0.12, PremiumV2_LRS: 0.12 },
  imageSizeInGB: {},
};

/** The defaults with a price file's values over them. */
export function priceTableOf(file: PriceTableFile | undefined): PriceTable {
  if (!file) return defaultPriceTable;
  return {
    currency: file.currency ?? defaultPriceTable.currency,
    perGBMonth: { ...defaultPriceTable.perGBMonth, ...definedOnly(file.perGBMonth ?? {}) },
    imageSizeInGB: { ...defaultPriceTable.imageSizeInGB, ...(file.imageSizeInGB ?? {}) },
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
