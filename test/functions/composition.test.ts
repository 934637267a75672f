import { describe, expect, it } from "vitest";
import { catalogEntryHash } from "../../shared/catalog/load.js";
import { parseSettings } from "../../shared/config/settings.js";
import { collectorTraceUrlTemplate, createPipeline, pipelineSettingsOf } from "../../functions/composition.js";
import { aCatalogImage, identityId, subscriptionId } from "../factories.js";
import { MemoryLogger } from "../fakes/azure.js";
import { MemoryCatalogReader } from "../fakes/catalogReader.js";

const rawSettings = {
  AZURE_SUBSCRIPTION_ID: subscriptionId,
  IMAGE_BUILDER_RESOURCE_GROUP: "rg-image-builder",
  IMAGE_BUILDER_IDENTITY_ID: identityId,
  ServiceBusConnection: "Endpoint=sb://localhost:1;UseDevelopmentEmulator=true",
};
const settings = parseSettings(rawSettings);

describe("the pipeline's deps per invocation", () => {
  const before = aCatalogImage({ name: "ubuntu-2404" });
  const after = aCatalogImage({ name: "ubuntu-2404", build: { vmSize: "Standard_D4s_v5" } });

  it("give each invocation the catalog in use now, so a published change is used without a restart", async () => {
    const source = new MemoryCatalogReader({ images: [before] });
    const pipeline = createPipeline(settings, { catalogReader: source });

    const first = await pipeline.deps(new MemoryLogger());
    source.publish({ images: [after] });
    const second = await pipeline.deps(new MemoryLogger());

    expect(first.catalog.images).toEqual([before]);
    expect(second.catalog.images).toEqual([after]);
    await pipeline.close();
  });

  it("ask the store again when an invocation names an entry hash the cached catalog does not have", async () => {
    const source = new MemoryCatalogReader({ images: [before] }, { visibleOnRevalidate: true });
    const pipeline = createPipeline(settings, { catalogReader: source });
    await pipeline.deps(new MemoryLogger());
    source.publish({ images: [after] });

    const deps = await pipeline.deps(new MemoryLogger(), {
      image: "ubuntu-2404",
      catalogHash: catalogEntryHash(after),
    });

    expect(deps.catalog.images).toEqual([after]);
    expect(source.reads).toEqual([{ revalidate: false }, { revalidate: false }, { revalidate: true }]);
    await pipeline.close();
  });

  it("do not ask again when the cached entry is the one named", async () => {
    const source = new MemoryCatalogReader({ images: [before] }, { visibleOnRevalidate: true });
    const pipeline = createPipeline(settings, { catalogReader: source });

    await pipeline.deps(new MemoryLogger(), { image: "UBUNTU-2404", catalogHash: catalogEntryHash(before) });

    expect(source.reads).toEqual([{ revalidate: false }]);
    await pipeline.close();
  });
});

describe("the use-cases' settings", () => {
  it("link a build's trace to the local collector's query when spans go to one, and to nothing otherwise", () => {
    const local = pipelineSettingsOf(
      parseSettings({ ...rawSettings, OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }),
    );
    expect(local.traceUrlTemplate?.replace("{buildId}", "b-0123")).toBe(
      "http://127.0.0.1:4318/_collector/traces?attribute=image_pipeline.build.id&value=b-0123",
    );
    expect(collectorTraceUrlTemplate("http://127.0.0.1:4318/otlp/")).toBe(
      "http://127.0.0.1:4318/otlp/_collector/traces?attribute=image_pipeline.build.id&value={buildId}",
    );
    expect(pipelineSettingsOf(settings)).not.toHaveProperty("traceUrlTemplate");
  });
});
