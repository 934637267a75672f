import { existsSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Resolves a relative path against the app's root (the folder of its package.json): the Functions worker's working
 * directory is not guaranteed to be the package root on every plan.
 */
export function resolveFromAppRoot(path: string, from: string = dirname(fileURLToPath(import.meta.url))): string {
  if (isAbsolute(path)) return path;
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return join(dir, path);
    if (dirname(dir) === dir) return path;
  }
}
