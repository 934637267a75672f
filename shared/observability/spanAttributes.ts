/**
 * Span attribute names of the pipeline's facts (OpenTelemetry style: lowercase, dot-separated namespace). No
 * dependency: use-cases name their facts with these.
 */
export const spanAttributes = {
  buildId: "image_pipeline.build.id",
  image: "image_pipeline.image",
  version: "image_pipeline.version",
  /** The region the step works in (the build's region). */
  region: "image_pipeline.region",
  /** The regions a step works on (a version's target regions, the regions a recovery step touches). */
  regions: "image_pipeline.regions",
  outcome: "image_pipeline.outcome",
  reason: "image_pipeline.failure.reason",
} as const;
