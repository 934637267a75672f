import * as z from "zod";
import { catalogSchema } from "./schema.js";

/** Repository path of the committed JSON Schema (editors read it through images.yaml's modeline). */
export const catalogJsonSchemaPath = "schemas/images.schema.json";

/**
 * JSON Schema (draft 2020-12) of the catalog as written by hand: fields with defaults are optional. Rules across
 * fields and images (unique names, build location among target regions...) are only checked by `validate`.
 */
export function catalogJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(catalogSchema, { io: "input", unrepresentable: "any" }),
    $id: "https://image-pipeline.invalid/schemas/images.schema.json",
    title: "image-pipeline catalog (images.yaml)",
    description:
      "Golden images the pipeline builds with Azure VM Image Builder and publishes to an Azure Compute Gallery. Run `npx image-pipeline validate` for the rules this schema cannot express.",
  };
}
