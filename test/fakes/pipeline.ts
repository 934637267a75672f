import type { CatalogImage } from "../../shared/catalog/schema.js";
import { definitionRefOf, type PipelineDeps, type PipelineSettings } from "../../shared/usecases/context.js";
import { identityId, subscriptionId } from "../factories.js";
import {
  FakeBus,
  FakeEventPublisher,
  FakeFleet,
  FakeGallery,
  FakeImageBuilder,
  ManualClock,
  MemoryLogger,
} from "./azure.js";
import { noTracer } from "../../shared/observability/tracing.js";

/** Settings for use-case tests. */
export const testSettings: PipelineSettings = {
  subscriptionId,
  imageBuilderResourceGroup: "rg-image-builder",
  imageBuilderIdentityId: identityId,
  buildWatchInitialDelayInSeconds: 60,
  buildWatchMaxDelayInSeconds: 600,
  buildRequeueDelayInSeconds: 300,
  replicationMaxRetries: 2,
  replicationTimeoutInMinutes: 720,
  failedBuildRetentionInHours: 72,
  pruneDryRun: false,
  pruneTimeBudgetInSeconds: 480,
  usageSubscriptionIds: [subscriptionId],
};

/** Use-case dependencies on fakes, with handles on each fake. */
export function fakePipeline(images: CatalogImage[], settings: Partial<PipelineSettings> = {}) {
  const gallery = new FakeGallery();
  const clock = new ManualClock();
  const imageBuilder = new FakeImageBuilder(gallery, clock);
  const bus = new FakeBus();
  const log = new MemoryLogger();
  const fleet = new FakeFleet();
  const eventPublisher = new FakeEventPublisher();
  const deps: PipelineDeps = {
    catalog: { images },
    gallery,
    imageBuilder,
    fleet,
    bus,
    eventPublisher,
    clock,
    log,
    tracer: noTracer,
    settings: { ...testSettings, ...settings },
  };
  const refOf = (image: CatalogImage) => definitionRefOf(image, deps.settings);
  return { deps, gallery, imageBuilder, fleet, bus, eventPublisher, clock, log, refOf };
}
