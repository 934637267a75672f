import type { BlockBlobClient } from "@azure/storage-blob";
import { catalogHash, formatCatalogError, parseCatalog } from "../catalog/load.js";
import type { Settings } from "../config/settings.js";
import { CatalogConflictError, CatalogUnavailableError, ConfigurationError } from "../errors.js";
import type { CatalogSnapshot, CatalogReader, CatalogStore, Logger, PublishedCatalogText } from "../ports.js";
import { isLoopback } from "./loopback.js";

/** Where the catalog blob is and how to reach it. */
export interface BlobCatalogOptions {
  /** URL of the blob (CATALOG_BLOB_URL). */
  blobUrl: string | undefined;
  /** Only for a storage emulator on this machine: its account's connection string (the account key). */
  connectionString?: string;
  /** Client id of the app's user-assigned managed identity. */
  clientId?: string;
  /** How long a read catalog is used before it is revalidated (CATALOG_MAX_AGE_IN_SECONDS). */
  maxAgeInSeconds: number;
  /** Milliseconds since the epoch; tests move it by hand. */
  now?: () => number;
}

/** The options of the app's catalog blob, from its settings. */
export function blobCatalogOptionsOf(settings: Settings): BlobCatalogOptions {
  return {
    blobUrl: settings.CATALOG_BLOB_URL,
    connectionString: settings.CATALOG_STORAGE_CONNECTION_STRING,
    clientId: settings.AZURE_CLIENT_ID,
    maxAgeInSeconds: settings.CATALOG_MAX_AGE_IN_SECONDS,
  };
}

function statusOf(error: unknown): number | undefined {
  return typeof error === "object" && error !== null && "statusCode" in error
    ? (error as { statusCode?: number }).statusCode
    : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

async function readText(body: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!body) return "";
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The catalog as a blob in the app's storage account, on `@azure/storage-blob` (loaded on first use): the app's
 * identity in Azure, an account key only for a loopback emulator.
 *
 * As a {@link CatalogReader} it keeps the catalog it read for `maxAgeInSeconds`, then revalidates it with a
 * conditional GET (`If-None-Match` with the last ETag seen): 304 keeps the parsed catalog, 200 brings a new text that
 * is used only if it validates. As a {@link CatalogStore} it reads and writes the text with ETag conditions.
 */
export class BlobCatalogStore implements CatalogReader, CatalogStore {
  private client?: Promise<BlockBlobClient>;
  private readonly now: () => number;
  private inUse?: CatalogSnapshot;
  /** ETag of the last text read, valid or not: a rejected text is not downloaded again until it changes. */
  private seenEtag?: string;
  private checkedAt?: number;
  private failure?: Error;
  private refreshing?: Promise<void>;

  constructor(private readonly options: BlobCatalogOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Where the catalog is read from (for messages). */
  get url(): string {
    return this.options.blobUrl ?? "(CATALOG_BLOB_URL not set)";
  }

  private blobClient(): Promise<BlockBlobClient> {
    this.client ??= (async () => {
      const { blobUrl, connectionString, clientId } = this.options;
      if (!blobUrl) throw new ConfigurationError("CATALOG_BLOB_URL: missing (the URL of the published catalog blob)");
      const { BlobServiceClient, BlockBlobClient } = await import("@azure/storage-blob");
      if (connectionString) {
        if (!isLoopback(blobUrl)) {
          throw new ConfigurationError(
            "CATALOG_STORAGE_CONNECTION_STRING is only for a storage emulator: CATALOG_BLOB_URL must be a loopback URL",
          );
        }
        const { credential } = BlobServiceClient.fromConnectionString(connectionString);
        return new BlockBlobClient(blobUrl, credential);
      }
      const { DefaultAzureCredential } = await import("@azure/identity");
      const credential = new DefaultAzureCredential(clientId ? { managedIdentityClientId: clientId } : {});
      return new BlockBlobClient(blobUrl, credential);
    })();
    return this.client;
  }

  async current(log: Logger, options: { revalidate?: boolean } = {}): Promise<CatalogSnapshot> {
    const fresh = this.checkedAt !== undefined && this.now() - this.checkedAt < this.options.maxAgeInSeconds * 1000;
    if (options.revalidate || !fresh) {
      // A read already under way may have started before what the caller wants to see: wait for it, then read again.
      if (options.revalidate && this.refreshing) await this.refreshing;
      this.refreshing ??= this.refresh(log).finally(() => {
        this.refreshing = undefined;
      });
      await this.refreshing;
    }
    if (this.inUse) return this.inUse;
    throw this.failure ?? new CatalogUnavailableError(`no catalog read from ${this.url} yet`);
  }

  private async refresh(log: Logger): Promise<void> {
    try {
      const blob = await this.blobClient();
      let response;
      try {
        response = await blob.download(0, undefined, {
          conditions: this.seenEtag ? { ifNoneMatch: this.seenEtag } : {},
        });
      } catch (error) {
        // The SDK rejects a 304 like an error (Azure/azure-sdk-for-js#37971): here it means "unchanged".
        if (statusOf(error) === 304) return;
        if (statusOf(error) === 404) {
          throw new CatalogUnavailableError(
            `no catalog is published at ${this.url} (BlobNotFound): publish one with image-pipeline catalog publish`,
          );
        }
        throw error;
      }
      const text = await readText(response.readableStreamBody);
      const etag = response.etag ?? "";
      this.seenEtag = etag;
      const parsed = parseCatalog(text, this.url);
      if (!parsed.ok) {
        const errors = parsed.errors.map(formatCatalogError);
        log.error(
          this.inUse
            ? "the published catalog does not validate: it is not used, the catalog in use is kept"
            : "the published catalog does not validate: it is not used, and there is no catalog to use",
          { catalogBlobUrl: this.url, etag, errors, inUseEtag: this.inUse?.etag },
        );
        if (!this.inUse) {
          this.failure = new CatalogUnavailableError(
            `the catalog published at ${this.url} (etag ${etag}) does not validate: ${errors.join("; ")}`,
          );
        }
        return;
      }
      const previous = this.inUse;
      this.inUse = { catalog: parsed.catalog, etag, hash: catalogHash(parsed.catalog) };
      this.failure = undefined;
      log.info("catalog read", {
        catalogBlobUrl: this.url,
        etag,
        catalogHash: this.inUse.hash,
        images: parsed.catalog.images.length,
        previousEtag: previous?.etag,
      });
    } catch (error) {
      if (this.inUse) {
        log.warn("the catalog could not be revalidated: the catalog in use is kept", {
          catalogBlobUrl: this.url,
          inUseEtag: this.inUse.etag,
          error: messageOf(error),
        });
      } else {
        this.failure =
          error instanceof CatalogUnavailableError || error instanceof ConfigurationError
            ? error
            : new CatalogUnavailableError(`cannot read the catalog at ${this.url}: ${messageOf(error)}`, {
                cause: error,
              });
      }
    } finally {
      this.checkedAt = this.now();
    }
  }

  async read(): Promise<PublishedCatalogText | undefined> {
    const blob = await this.blobClient();
    try {
      const response = await blob.download();
      return {
        text: await readText(response.readableStreamBody),
        etag: response.etag ?? "",
        lastModified: response.lastModified,
      };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async write(text: string, condition: { ifMatch: string } | { ifNoneMatch: "*" }): Promise<{ etag: string }> {
    const blob = await this.blobClient();
    try {
      const response = await blob.upload(text, Buffer.byteLength(text), {
        conditions: condition,
        blobHTTPHeaders: { blobContentType: "application/yaml; charset=utf-8" },
      });
      return { etag: response.etag ?? "" };
    } catch (error) {
      // 412 ConditionNotMet (If-Match), 409 BlobAlreadyExists (If-None-Match: *).
      if (statusOf(error) === 412 || statusOf(error) === 409) {
        throw new CatalogConflictError(
          "ifMatch" in condition
            ? `the catalog at ${this.url} changed since it was read (etag ${condition.ifMatch}): someone else published; read it again and retry`
            : `a catalog was published at ${this.url} since it was read: read it again and retry`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}
