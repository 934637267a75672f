import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Debian's Chromium (`apt-get install -y chromium`; `.ci/run` installs it). No browser is ever downloaded. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Flags that work on this kind of machine (closed network, root, no GPU): without the background-networking ones
 * Chromium keeps opening connections the network refuses. playwright-core adds `--headless` and a new temporary
 * `--user-data-dir` of its own on every launch (it refuses one in `args`).
 */
export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches headless Chromium, or fails saying how to install it: browser tests never skip silently. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium is not installed at ${chromiumPath}: the dashboard's browser tests, benchmark and screenshot need ` +
        "Debian's chromium package (as root: apt-get update && apt-get install -y chromium; .ci/run does it), " +
        "or CHROMIUM_PATH set to a Chromium binary.",
    );
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
}
