import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  DashboardAssetsMissingError,
  dashboardContentSecurityPolicy,
  loadDashboardAssets,
  pagePathOf,
  renderDashboardPage,
} from "../../../shared/dashboard/page.js";

const folder = mkdtempSync(path.join(tmpdir(), "dashboard-assets-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe("the dashboard page", () => {
  it("refuses to start without its built assets, saying how to build them", () => {
    expect(() => loadDashboardAssets(folder)).toThrow(DashboardAssetsMissingError);
    expect(() => loadDashboardAssets(folder)).toThrow(/npm run build:dashboard/);
  });

  it("loads the script, stylesheet and icon, each with a hash of its bytes", () => {
    writeFileSync(path.join(folder, "app.js"), "console.log(1)");
    writeFileSync(path.join(folder, "app.css"), "body{}");
    writeFileSync(path.join(folder, "icon.svg"), "<svg/>");
    writeFileSync(path.join(folder, "secret.txt"), "not served");
    const assets = loadDashboardAssets(folder);
    expect([...assets.keys()].sort()).toEqual(["app.css", "app.js", "icon.svg"]);
    expect(assets.get("app.js")).toMatchObject({ contentType: "text/javascript; charset=utf-8" });
    expect(assets.get("app.js")!.etag).not.toBe(assets.get("app.css")!.etag);
  });

  it("is a shell with no inline script or style, loading versioned assets below its own path", () => {
    const html = renderDashboardPage("/api/dashboard", loadDashboardAssets(folder));
    const version = loadDashboardAssets(folder).get("app.js")!.version;
    expect(html).toContain(`<script type="module" src="/api/dashboard/assets/app.js?v=${version}"></script>`);
    expect(html).not.toMatch(/<script>|<style|\sstyle=|\son\w+=/i);
  });

  it("refuses a page path that could break out of an attribute", () => {
    expect(() => renderDashboardPage('/api/"><script>', loadDashboardAssets(folder))).toThrow(/unexpected page path/);
    expect(pagePathOf("https://app.example/api/dashboard/?x=1")).toBe("/api/dashboard");
  });

  it("has a policy that allows the app's own scripts and styles only, and no HTML sinks", () => {
    const directives = new Map(
      dashboardContentSecurityPolicy.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1).join(" ")]),
    );
    expect(directives.get("default-src")).toBe("'none'");
    expect(directives.get("script-src")).toBe("'self'");
    expect(directives.get("style-src")).toBe("'self'");
    expect(directives.get("frame-ancestors")).toBe("'none'");
    expect(directives.get("require-trusted-types-for")).toBe("'script'");
  });
});
