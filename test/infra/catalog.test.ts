import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { arrayItems, objectEntries, parseBicep, valueAt, type BicepDeployable } from "./bicep.js";
import { appSettingEntries, type SourceFiles } from "./checks.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const mainPath = "infra/main.bicep";
const rbacPath = "infra/app/rbac.bicep";
const assignmentPath = "infra/core/security/role-assignment.bicep";

function readTree(folder: string): SourceFiles {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(root, path).split("\\").join("/"), readFileSync(path, "utf8"));
    }
  };
  walk(join(root, folder));
  return files;
}

const realFiles = readTree("infra");

function mutate(path: string, from: string | RegExp, to: string): SourceFiles {
  const text = realFiles.get(path)!;
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`mutation of ${path} changed nothing: ${String(from)}`);
  return new Map(realFiles).set(path, changed);
}

const squash = (text: string | undefined) => (text ?? "").replace(/\s+/g, " ").trim();
const param = (module: BicepDeployable, key: string) =>
  squash(objectEntries(valueAt(module.body, ["params"]) ?? "{}").find((e) => e.key === key)?.value);

/**
 * The catalog as data in Azure (infra/): a container of the app's storage account holds the catalog blob, the app
 * setting CATALOG_BLOB_URL points at it, the app's identity may only read it, and its publishers may only write it.
 */
function checkCatalogStore(files: SourceFiles): string[] {
  const problems: string[] = [];
  const main = parseBicep(files.get(mainPath)!);
  const storage = main.modules.find((m) => m.target === "core/storage/storage-account.bicep");
  const api = main.modules.find((m) => m.target === "app/api.bicep");
  const rbac = main.modules.find((m) => m.target === "app/rbac.bicep");
  const container = main.vars.get("catalogContainerName");
  if (!storage || !api || !rbac || !container)
    return ["main.bicep lacks the storage, api or rbac module, or catalogContainerName"];

  if (!arrayItems(valueAt(storage.body, ["params", "containerNames"]) ?? "[]").includes("catalogContainerName")) {
    problems.push("the catalog container is not created in the app's storage account");
  }
  const blobUrl = "'${storage.outputs.blobEndpoint}${catalogContainerName}/images.yaml'";
  if (param(api, "catalogBlobUrl") !== blobUrl) problems.push(`the app's catalogBlobUrl is not ${blobUrl}`);
  if (squash(main.outputs.find((o) => o.name === "CATALOG_BLOB_URL")?.value) !== blobUrl) {
    problems.push(`output CATALOG_BLOB_URL is not ${blobUrl}`);
  }
  const settings = appSettingEntries(files);
  if (typeof settings === "string") return [...problems, settings];
  if (settings.entries.find((e) => e.key === "CATALOG_BLOB_URL")?.value !== "catalogBlobUrl") {
    problems.push("app setting CATALOG_BLOB_URL is not the catalogBlobUrl parameter");
  }
  if (param(rbac, "catalogContainerName") !== "catalogContainerName") {
    problems.push("rbac.bicep is not given the catalog container");
  }
  if (!/principalId: deployerPrincipalId/.test(param(rbac, "catalogPublishers"))) {
    problems.push("the deployer (deployerPrincipalId) is not among the catalog publishers");
  }

  const roles = parseBicep(files.get(rbacPath)!).modules.filter(
    (m) => m.target === "../core/security/role-assignment.bicep",
  );
  const onCatalog = roles.filter((m) => param(m, "scopeName").includes("catalogContainerName"));
  const containerScope = "'${storageAccountName}/${catalogContainerName}'";
  const reader = onCatalog.find((m) => param(m, "principalId") === "appIdentity.properties.principalId");
  if (!reader) problems.push("the app identity has no role on the catalog container");
  else if (!param(reader, "roleDefinitionId").endsWith("builtInRoles.storageBlobDataReader)")) {
    problems.push(
      `the app identity gets ${param(reader, "roleDefinitionId")} on the catalog, not Storage Blob Data Reader`,
    );
  }
  const publishers = onCatalog.find((m) => m.loop?.source === "catalogPublishers");
  if (!publishers) problems.push("the catalog publishers get no role on the catalog container");
  else if (!param(publishers, "roleDefinitionId").endsWith("builtInRoles.storageBlobDataContributor)")) {
    problems.push(`catalog publishers get ${param(publishers, "roleDefinitionId")}, not Storage Blob Data Contributor`);
  }
  for (const module of [reader, publishers]) {
    if (module && (param(module, "scopeKind") !== "'blobContainer'" || param(module, "scopeName") !== containerScope)) {
      problems.push(`role assignment '${module.symbol}' is not scoped to the catalog container alone`);
    }
  }

  const assignment = parseBicep(files.get(assignmentPath)!);
  const onContainer = assignment.resources.find(
    (r) => r.target === "Microsoft.Authorization/roleAssignments" && r.condition?.includes("'blobContainer'"),
  );
  const target = assignment.resources.find((r) => r.symbol === squash(valueAt(onContainer?.body ?? "{}", ["scope"])));
  if (target?.target !== "Microsoft.Storage/storageAccounts/blobServices/containers" || !target.existing) {
    problems.push(`${assignmentPath} does not scope a blobContainer assignment to the existing container`);
  }
  return problems;
}

describe("the catalog store in infra/", () => {
  it("is a container of the app's storage account, read by the app's identity, written by its publishers only", () => {
    expect(checkCatalogStore(realFiles)).toEqual([]);
  });

  it("reports a catalog container that is not created", () => {
    const mutant = mutate(mainPath, /\n\s*catalogContainerName\n(\s*\])/, "\n$1");
    expect(checkCatalogStore(mutant)).toEqual(["the catalog container is not created in the app's storage account"]);
  });

  it("reports an app setting that points elsewhere", () => {
    const mutant = mutate(
      "infra/app/api.bicep",
      "CATALOG_BLOB_URL: catalogBlobUrl",
      "CATALOG_BLOB_URL: 'https://elsewhere'",
    );
    expect(checkCatalogStore(mutant)).toEqual(["app setting CATALOG_BLOB_URL is not the catalogBlobUrl parameter"]);
  });

  it("reports an app identity that may write the catalog", () => {
    const mutant = mutate(rbacPath, "builtInRoles.storageBlobDataReader)", "builtInRoles.storageBlobDataContributor)");
    expect(checkCatalogStore(mutant)).toEqual([
      expect.stringContaining(
        "the app identity gets subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.storageBlobDataContributor)",
      ),
    ]);
  });

  it("reports publishers given write on the whole storage account", () => {
    const mutant = mutate(
      rbacPath,
      "builtInRoles.storageBlobDataContributor)\n      scopeKind: 'blobContainer'",
      "builtInRoles.storageBlobDataContributor)\n      scopeKind: 'storageAccount'",
    );
    expect(checkCatalogStore(mutant)).toEqual([
      "role assignment 'catalogPublisherAssignments' is not scoped to the catalog container alone",
    ]);
  });

  it("reports a deployment whose deployer cannot publish the catalog", () => {
    const mutant = mutate(
      mainPath,
      /empty\(deployerPrincipalId\)\s*\?\s*\[\]\s*:\s*\[\{ principalId: deployerPrincipalId[^\n]*\],/,
      "[],",
    );
    expect(checkCatalogStore(mutant)).toEqual([
      "the deployer (deployerPrincipalId) is not among the catalog publishers",
    ]);
  });

  it("reports a container assignment that is not scoped to the container", () => {
    const mutant = mutate(assignmentPath, "scope: blobContainer\n", "scope: containerAccount\n");
    expect(checkCatalogStore(mutant)).toEqual([
      `${assignmentPath} does not scope a blobContainer assignment to the existing container`,
    ]);
  });
});
