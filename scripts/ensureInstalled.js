#!/usr/bin/env node
// Runs before `npm start` and `npm test` (prestart, pretest): installs from the lockfile when node_modules does not
// hold what package-lock.json asks for, and does nothing (in a few milliseconds) when it does. Plain Node, no
// dependency: it must run before anything is installed.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Packages of `package-lock.json` that `node_modules/.package-lock.json` (the record npm writes after every install)
 * lacks or has at another version. Optional packages may be absent (npm skips those for other platforms).
 *
 * @param {string} root the folder of package.json
 * @returns {string[]} the lockfile's keys (`node_modules/...`) that are not installed as locked
 */
export function packagesNotInstalled(root) {
  const wanted = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")).packages ?? {};
  let installed = {};
  try {
    installed = JSON.parse(readFileSync(join(root, "node_modules", ".package-lock.json"), "utf8")).packages ?? {};
  } catch {
    // Nothing installed yet.
  }
  return Object.entries(wanted)
    .filter(([key, entry]) => key.startsWith("node_modules/") && !entry.link)
    .filter(([key, entry]) => {
      const have = installed[key];
      return have ? have.version !== entry.version : !entry.optional;
    })
    .map(([key]) => key);
}

/**
 * Installs from the lockfile (`npm ci`) unless everything is already there.
 *
 * @param {{ root: string, install?: (root: string) => number, log?: (line: string) => void }} options
 * @returns {boolean} whether it installed
 */
export function ensureInstalled({ root, install = npmCi, log = (line) => console.error(line) }) {
  const missing = packagesNotInstalled(root);
  if (missing.length === 0) return false;
  log(`node_modules lacks ${missing.length} package(s) of package-lock.json (${missing[0]}, ...): running npm ci`);
  const status = install(root);
  if (status !== 0) throw new Error(`npm ci exited with ${status}`);
  return true;
}

function npmCi(/** @type {string} */ root) {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  return spawnSync(npm, ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" }).status ?? 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    ensureInstalled({ root: join(fileURLToPath(import.meta.url), "..", "..") });
  } catch (error) {
    console.error(String(error));
    process.exit(1);
  }
}
