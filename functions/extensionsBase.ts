import { createRequire } from "node:module";
import type * as ExtensionsBase from "@azure/functions-extensions-base";

// @azure/functions looks binding factories up in the CommonJS build of @azure/functions-extensions-base. An ESM import
// of the package loads its ESM build instead: a second registry that nothing reads. So this module requires it.
// (`npm run build` replaces this module with a plain re-export: the bundle holds only the CommonJS build.)
const require = createRequire(import.meta.url);

/** The registry of binding factories that `@azure/functions` reads when it converts trigger data. */
export const { ResourceFactoryResolver } = require("@azure/functions-extensions-base") as typeof ExtensionsBase;
/** An instance of the registry. */
export type ResourceFactoryResolver = ExtensionsBase.ResourceFactoryResolver;
