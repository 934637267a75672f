import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { bundleDir } from "../../scripts/bundle.js";
import { loadQueueConfig } from "../../shared/config/queues.js";
import { parseSettings, settingNames } from "../../shared/config/settings.js";
import { parseBicep, valueAt } from "./bicep.js";
import {
  appSettingEntries,
  checkAppSettings,
  checkAppWaitsForRoles,
  checkBicepHygiene,
  checkBuilderRoles,
  checkModules,
  checkOutputs,
  checkParameters,
  checkProviders,
  checkQueueRole,
  checkFleetReader,
  checkQueues,
  checkReadmeSettings,
  checkRequiredAzdVersion,
  checkRoles,
  checkSettingDefaults,
  checkSubscriptionDeploymentNames,
  checkSubscriptionRead,
  checkTelemetry,
  checkWebhookSecretHook,
  type AzdFeature,
  rbacPath,
  type SourceFiles,
} from "./checks.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const queueConfigPath = "shared/config/queues.json";
const mainPath = "infra/main.bicep";
const parametersPath = "infra/main.parameters.json";
const apiPath = "infra/app/api.bicep";
const serviceBusPath = "infra/app/servicebus.bicep";

/**
 * Settings the code reads that Azure must NOT have, and why. Keep this list small and explicit: everything else in
 * `settingNames` is declared in the Function App's app settings.
 */
const localOnlySettings: Record<string, string> = {
  ServiceBusConnection:
    "connection string for the local Service Bus emulator; Azure uses the identity-based ServiceBusConnection__*",
  ARM_ENDPOINT: "points the ARM clients at the local ARM emulator; Azure uses the default management endpoint",
  ARM_AUTH: "'emulator' (a fixed token) is only for the local ARM emulator; Azure keeps the default 'azure'",
  ARM_CA_CERT_PATH: "trusts the local ARM emulator's self-signed certificate",
  CATALOG_STORAGE_CONNECTION_STRING:
    "account key of the local storage emulator (Azurite); Azure reads the catalog blob with the app's identity",
  EVENT_GRID_AUTH: "'emulator' (a fixed token) is only for the local Event Grid topic; Azure keeps the default 'azure'",
  EVENT_GRID_CA_CERT_PATH: "trusts the local Event Grid topic's self-signed certificate",
  OTEL_EXPORTER_OTLP_ENDPOINT:
    "the local stack's OTLP collector; in Azure spans and logs go to Application Insights (APPLICATIONINSIGHTS_*)",
  HEALTH_CHECK_CA_CERT_PATH: "trusts the self-signed certificate of a health endpoint on the local stack",
};

/**
 * Built-in role ids and names, checked against learn.microsoft.com "Azure built-in roles" (MicrosoftDocs/azure-docs,
 * articles/role-based-access-control/built-in-roles/{integration,storage,security,monitor,identity,general}.md).
 */
const verifiedBuiltInRoles: Record<string, string> = {
  "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
  "090c5cfd-751d-490a-894a-3ce6f1109419": "Azure Service Bus Data Owner",
  "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
  "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
  "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
  "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
  "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
  "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
  "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
  "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
  "f1a07417-d97a-45cb-824c-7a7467783830": "Managed Identity Operator",
  "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
  // articles/role-based-access-control/built-in-roles/integration.md; Event Grid docs, "Authenticate publishing
  // clients using Microsoft Entra ID": the role holds Microsoft.EventGrid/events/send/action.
  "d5a91429-5739-47e2-a06b-3470a27159e7": "EventGrid Data Sender",
};

/**
 * The api-version of each resource type, checked against the Azure resource reference (learn.microsoft.com/azure/
 * templates) and the REST specs (Azure/azure-rest-api-specs). Add a type here only after checking its properties.
 */
const verifiedApiVersions: Record<string, string> = {
  "Microsoft.Resources/resourceGroups": "2024-03-01",
  "Microsoft.ManagedIdentity/userAssignedIdentities": "2023-01-31",
  "Microsoft.OperationalInsights/workspaces": "2023-09-01",
  "Microsoft.Insights/components": "2020-02-02",
  "Microsoft.Storage/storageAccounts": "2023-05-01",
  "Microsoft.Storage/storageAccounts/blobServices": "2023-05-01",
  "Microsoft.Storage/storageAccounts/blobServices/containers": "2023-05-01",
  "Microsoft.ServiceBus/namespaces": "2024-01-01",
  "Microsoft.ServiceBus/namespaces/queues": "2024-01-01",
  "Microsoft.KeyVault/vaults": "2023-07-01",
  "Microsoft.KeyVault/vaults/secrets": "2023-07-01",
  "Microsoft.Compute/galleries": "2024-03-03",
  "Microsoft.Web/serverfarms": "2024-04-01",
  "Microsoft.Web/sites": "2024-04-01",
  "Microsoft.Web/sites/config": "2024-04-01",
  "Microsoft.Web/sites/basicPublishingCredentialsPolicies": "2024-04-01",
  "Microsoft.Authorization/roleDefinitions": "2022-04-01",
  "Microsoft.Authorization/roleAssignments": "2022-04-01",
  // azure-rest-api-specs eventgrid/resource-manager/Microsoft.EventGrid/stable/2025-02-15 (inputSchema,
  // disableLocalAuth, minimumTlsVersionAllowed; WebHook destination, eventDeliverySchema, retryPolicy).
  "Microsoft.EventGrid/topics": "2025-02-15",
  "Microsoft.EventGrid/topics/eventSubscriptions": "2025-02-15",
};

/** Parameters of rbac.bicep that carry principals from outside the deployment, and the one role they may get. */
const externalPrincipalParams = {
  galleryReaders: "reader",
  deployerPrincipalId: "keyVaultSecretsOfficer",
  catalogPublishers: "storageBlobDataContributor",
};

/**
 * The only actions a role may hold at subscription scope: reading platform image versions, which Azure serves only
 * under /subscriptions/{id}/providers/Microsoft.Compute/locations/... (Microsoft Learn, "Azure permissions for
 * Compute": "Get the properties of a Platform Image Version").
 */
const platformImageVersionsRead = "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read";
const subscriptionScopeActions = [platformImageVersionsRead];
/**
 * What Resource Graph needs to show the fleet: read on the VMs, scale sets and instances (Learn, "Permissions in Azure
 * Resource Graph": resources the caller cannot read are left out), and on the subscription (its row in
 * ResourceContainers tells an empty subscription from an unreadable one).
 */
const fleetReadActions = [
  "Microsoft.Compute/virtualMachines/read",
  "Microsoft.Compute/virtualMachineScaleSets/read",
  "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
  "Microsoft.Resources/subscriptions/read",
];

const requiredOutputs = [
  "AZURE_LOCATION",
  "AZURE_RESOURCE_GROUP",
  "AZURE_FUNCTION_APP_NAME",
  "SERVICEBUS_NAMESPACE",
  "GALLERY_NAME",
  "GALLERY_RESOURCE_GROUP",
  "IMAGE_BUILDER_RESOURCE_GROUP",
  "IMAGE_BUILDER_IDENTITY_ID",
  "AZURE_KEY_VAULT_NAME",
  "WEBHOOK_URL",
];

function readTree(folder: string): Map<string, string> {
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

const realFiles: SourceFiles = readTree("infra");
const queueConfig = loadQueueConfig(join(root, queueConfigPath));
const exists = (path: string): boolean => existsSync(join(root, path));

/** A copy of the files with one edit; throws when the text to replace is not there, so no mutant is a no-op. */
function mutate(path: string, from: string | RegExp, to: string, files: SourceFiles = realFiles): SourceFiles {
  const text = files.get(path);
  if (text === undefined) throw new Error(`no file ${path}`);
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`mutation of ${path} changed nothing: ${String(from)}`);
  return new Map(files).set(path, changed);
}

function file(path: string, files: SourceFiles = realFiles): string {
  const text = files.get(path);
  if (text === undefined) throw new Error(`no file ${path}`);
  return text;
}

const checkRealRoles = (files: SourceFiles): string[] =>
  checkRoles(files, verifiedBuiltInRoles, externalPrincipalParams, subscriptionScopeActions, fleetReadActions);

describe("Service Bus queues in infra/", () => {
  it("creates every queue of shared/config/queues.json from the loaded JSON, each property mapped", () => {
    expect(checkQueues(realFiles, queueConfigPath, queueConfig)).toEqual([]);
  });

  it("reports a queue property whose mapping was removed", () => {
    const mutant = mutate(serviceBusPath, /\n\s*lockDuration: queue\.properties\.lockDuration/, "");
    expect(checkQueues(mutant, queueConfigPath, queueConfig)).toEqual([
      expect.stringContaining("property lockDuration of shared/config/queues.json is not mapped"),
    ]);
  });

  it("reports a queue property set in Bicep instead of in the shared definition", () => {
    const mutant = mutate(serviceBusPath, "maxDeliveryCount: queue.properties.maxDeliveryCount", "maxDeliveryCount: 5");
    expect(checkQueues(mutant, queueConfigPath, queueConfig)).toEqual(
      expect.arrayContaining([expect.stringContaining("property maxDeliveryCount is set in Bicep (5)")]),
    );
  });

  it("reports queues that are not created from the shared definition", () => {
    const mutant = mutate(serviceBusPath, "'../../shared/config/queues.json'", "'./queues.json'");
    expect(checkQueues(mutant, queueConfigPath, queueConfig)).toEqual([
      expect.stringContaining("does not loop over loadJsonContent('shared/config/queues.json').queues"),
    ]);
  });
});

describe("Function App settings in infra/", () => {
  it("declares every setting the code reads, except the local-only ones, with identity-based connections", () => {
    expect(checkAppSettings(realFiles, settingNames, localOnlySettings)).toEqual([]);
  });

  it("keeps the local-only list to settings the code actually reads", () => {
    expect(settingNames).toEqual(expect.arrayContaining(Object.keys(localOnlySettings)));
  });

  it("reports a setting removed from the app settings", () => {
    const mutant = mutate(apiPath, /\n\s*IMAGE_BUILDER_RESOURCE_GROUP: imageBuilderResourceGroupName/, "");
    expect(checkAppSettings(mutant, settingNames, localOnlySettings)).toEqual([
      expect.stringContaining("setting IMAGE_BUILDER_RESOURCE_GROUP (shared/config/settings.ts) is not declared"),
    ]);
  });

  it("reports a local-only setting set in Azure", () => {
    const mutant = mutate(
      apiPath,
      "CATALOG_BLOB_URL: catalogBlobUrl",
      "CATALOG_BLOB_URL: catalogBlobUrl\n    ARM_AUTH: 'emulator'",
    );
    expect(checkAppSettings(mutant, settingNames, localOnlySettings)).toEqual([
      expect.stringContaining("setting ARM_AUTH is local-only"),
    ]);
  });

  it("reports a webhook secret that is not a Key Vault reference", () => {
    const mutant = mutate(apiPath, "WEBHOOK_SECRET: webhookSecretReference", "WEBHOOK_SECRET: 'not-a-reference'");
    expect(checkAppSettings(mutant, settingNames, localOnlySettings)).toEqual([
      expect.stringContaining("setting WEBHOOK_SECRET in infra/app/api.bicep is not a @Microsoft.KeyVault"),
    ]);
  });

  it("reports a Service Bus connection that is not identity-based", () => {
    const mutant = mutate(apiPath, "ServiceBusConnection__credential: 'managedidentity'", "");
    expect(checkAppSettings(mutant, settingNames, localOnlySettings)).toEqual([
      expect.stringContaining("ServiceBusConnection__credential is not 'managedidentity'"),
    ]);
  });

  it("writes literal settings with the same value as the code's default", () => {
    const defaults = parseSettings({
      AZURE_SUBSCRIPTION_ID: "00000000-0000-0000-0000-000000000000",
      IMAGE_BUILDER_RESOURCE_GROUP: "rg",
      IMAGE_BUILDER_IDENTITY_ID: "/subscriptions/s/resourceGroups/rg/providers/x/y/id",
      ServiceBusConnection__fullyQualifiedNamespace: "sb.servicebus.windows.net",
    });
    const entriesOf = (files: SourceFiles) => {
      const found = appSettingEntries(files);
      if (typeof found === "string") throw new Error(found);
      return found.entries;
    };
    expect(checkSettingDefaults(entriesOf(realFiles), defaults)).toEqual([]);
    const mutant = mutate(
      apiPath,
      "REPLICATION_MONITOR_SCHEDULE: '0 */2 * * * *'",
      "REPLICATION_MONITOR_SCHEDULE: '0 */5 * * * *'",
    );
    expect(checkSettingDefaults(entriesOf(mutant), defaults)).toEqual([
      "app setting REPLICATION_MONITOR_SCHEDULE is '0 */5 * * * *' but the code's default is '0 */2 * * * *'",
    ]);
  });
});

describe("roles in infra/", () => {
  it("assigns every role to a defined identity with a verified built-in or a custom role, and no broad role", () => {
    expect(checkRealRoles(realFiles)).toEqual([]);
  });

  it("reports a role assignment to an undefined identity", () => {
    const mutant = mutate(
      rbacPath,
      "principalId: builderIdentity.properties.principalId",
      "principalId: strangerIdentity.properties.principalId",
    );
    expect(checkRealRoles(mutant)).toEqual([
      expect.stringContaining("principalId strangerIdentity.properties.principalId is not a user-assigned identity"),
    ]);
  });

  it("reports a role whose comment does not name it", () => {
    const mutant = mutate(rbacPath, "// Azure Service Bus Data Owner", "// Azure Service Bus Data Receiver");
    expect(checkRealRoles(mutant)).toEqual([
      expect.stringContaining("comment says 'Azure Service Bus Data Receiver' but 090c5cfd"),
    ]);
  });

  it("reports Owner or Contributor anywhere in infra/", () => {
    const mutant = mutate(
      rbacPath,
      "'acdd72a7-3385-48ef-bd42-f606fba81ae7' // Reader",
      "'b24988ac-6180-42a0-ab88-20f7382dd24c' // Contributor",
    );
    expect(checkRealRoles(mutant)).toEqual(
      expect.arrayContaining([expect.stringContaining("names the Contributor role")]),
    );
  });

  it("reports a role assignment declared outside rbac.bicep", () => {
    const assignment = [
      "",
      "resource sneaky 'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
      "  name: guid(functionApp.id, 'sneaky')",
      "  properties: {",
      "    principalId: identity.properties.principalId",
      "    roleDefinitionId: 'x'",
      "  }",
      "}",
      "",
    ].join("\n");
    const mutant = mutate(apiPath, /\n\/\/ Deployments \(azd/, `${assignment}\n// Deployments (azd`);
    expect(checkRealRoles(mutant)).toEqual([
      "role assignment 'sneaky' in infra/app/api.bicep: assign roles through infra/app/rbac.bicep",
    ]);
  });

  it("reports a custom role that allows every action", () => {
    const mutant = mutate(
      rbacPath,
      "'Microsoft.VirtualMachineImages/imageTemplates/*'\n        ]\n        notActions: []\n      }\n    ]\n    assignableScopes: [\n      imageBuilderResourceGroupId",
      "'*'\n        ]\n        notActions: []\n      }\n    ]\n    assignableScopes: [\n      imageBuilderResourceGroupId",
    );
    expect(checkRealRoles(mutant)).toEqual([
      expect.stringContaining("custom role 'imageBuilderOperatorRole' in infra/app/rbac.bicep allows '*'"),
    ]);
  });

  it("reports shared principals given more than Reader", () => {
    const mutant = mutate(
      rbacPath,
      "builtInRoles.reader)\n      scopeKind: 'gallery'",
      "builtInRoles.keyVaultSecretsUser)\n      scopeKind: 'gallery'",
    );
    expect(checkRealRoles(mutant)).toEqual([
      expect.stringContaining("principals from galleryReaders may only get reader"),
    ]);
  });
});

describe("infra/main.bicep", () => {
  it("references only modules and files that exist in the repository", () => {
    expect(checkModules(realFiles, mainPath, exists)).toEqual([]);
  });

  it("reports a module that does not exist", () => {
    const mutant = mutate(mainPath, "'app/api.bicep'", "'app/apis.bicep'");
    expect(checkModules(mutant, mainPath, exists)).toEqual([
      "module 'api' in infra/main.bicep: app/apis.bicep does not exist",
    ]);
  });

  it("gives every parameter without a default a value in main.parameters.json", () => {
    expect(checkParameters(file(mainPath), file(parametersPath))).toEqual([]);
  });

  it("reports a parameter that has neither a default nor a value", () => {
    const parameters = JSON.parse(file(parametersPath)) as { parameters: Record<string, unknown> };
    delete parameters.parameters.location;
    expect(checkParameters(file(mainPath), JSON.stringify(parameters))).toEqual([
      "parameter location of main.bicep has no default and is not in main.parameters.json",
    ]);
  });

  it("outputs what azd and the docs need, in UPPER_SNAKE", () => {
    expect(checkOutputs(file(mainPath), requiredOutputs)).toEqual([]);
    const mutant = mutate(mainPath, "output GALLERY_NAME string", "output galleryName string");
    expect(checkOutputs(file(mainPath, mutant), requiredOutputs)).toEqual([
      "output galleryName of main.bicep is not UPPER_SNAKE",
      "main.bicep has no output GALLERY_NAME",
    ]);
  });

  it("uses verified api-versions and no symbol that hides a decorator, in every Bicep file", () => {
    expect(checkBicepHygiene(realFiles, verifiedApiVersions)).toEqual([]);
    const mutant = mutate("infra/core/compute/gallery.bicep", /galleryDescription/g, "description");
    expect(checkBicepHygiene(mutant, verifiedApiVersions)).toEqual([
      "infra/core/compute/gallery.bicep: 'description' hides the @description decorator; rename it",
    ]);
  });

  it("deploys at subscription scope", () => {
    expect(parseBicep(file(mainPath)).targetScope).toBe("subscription");
  });
});

describe("the Function App in infra/", () => {
  const api = parseBicep(file(apiPath));
  const resource = (type: string) => api.resources.find((r) => r.target === type && !r.existing)!.body;

  it("runs Node 22 on the Flex Consumption plan with deployment storage reached by its identity", () => {
    expect(valueAt(resource("Microsoft.Web/serverfarms"), ["sku", "name"])).toBe("'FC1'");
    const site = resource("Microsoft.Web/sites");
    expect(valueAt(site, ["properties", "functionAppConfig", "runtime"])?.replace(/\s+/g, " ")).toBe(
      "{ name: 'node' version: '22' }",
    );
    expect(valueAt(site, ["properties", "functionAppConfig", "deployment", "storage", "authentication", "type"])).toBe(
      "'UserAssignedIdentity'",
    );
    expect(valueAt(site, ["properties", "keyVaultReferenceIdentity"])).toBe("identity.id");
  });

  it("is the azd service 'api' of azure.yaml, deployed as the bundle npm run build writes", () => {
    const azureYaml = parseYaml(readFileSync(join(root, "azure.yaml"), "utf8")) as {
      services: Record<
        string,
        { project: string; language: string; host: string; dist?: string; remoteBuild?: boolean }
      >;
    };
    expect(azureYaml.services.api).toMatchObject({ project: ".", language: "ts", host: "function" });
    expect(valueAt(resource("Microsoft.Web/sites"), ["tags"])).toBe("union(tags, { 'azd-service-name': 'api' })");
    // azd runs `npm run build` in the project and zips `dist`: it must be the folder scripts/bundle.ts writes, and
    // self-contained, so no remote build reinstalls packages over it.
    const packageJson = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: { build: string } };
    expect(packageJson.scripts.build).toBe("tsx scripts/bundle.ts");
    expect(join(root, azureYaml.services.api?.dist ?? "")).toBe(bundleDir);
    expect(azureYaml.services.api?.remoteBuild).toBe(false);
  });

  it("uses no keys: storage without shared keys, Service Bus without local auth, Key Vault in RBAC mode", () => {
    const bodyOf = (path: string, type: string) =>
      parseBicep(file(path)).resources.find((r) => r.target === type && !r.existing)!.body;
    const storage = bodyOf("infra/core/storage/storage-account.bicep", "Microsoft.Storage/storageAccounts");
    expect(valueAt(storage, ["properties", "allowSharedKeyAccess"])).toBe("false");
    expect(valueAt(bodyOf(serviceBusPath, "Microsoft.ServiceBus/namespaces"), ["properties", "disableLocalAuth"])).toBe(
      "true",
    );
    const vault = bodyOf("infra/core/security/keyvault.bicep", "Microsoft.KeyVault/vaults");
    expect(valueAt(vault, ["properties", "enableRbacAuthorization"])).toBe("true");
    expect(valueAt(vault, ["properties", "accessPolicies"])).toBeUndefined();
  });
});

describe("a deployment that works with azd up defaults (issue 14)", () => {
  const azureYamlText = readFileSync(join(root, "azure.yaml"), "utf8");
  const azureYaml = parseYaml(azureYamlText) as Record<string, unknown>;
  const mutatedYaml = (from: string, to: string): Record<string, unknown> => {
    if (!azureYamlText.includes(from)) throw new Error(`azure.yaml has no ${from}`);
    return parseYaml(azureYamlText.replace(from, to)) as Record<string, unknown>;
  };

  it("lets the app identity read platform image versions at subscription scope, with that one action", () => {
    expect(checkSubscriptionRead(realFiles, "appIdentity", platformImageVersionsRead)).toEqual([]);
    const withoutAssignment = mutate(rbacPath, /\nresource appReadsPlatformImages[\s\S]*?\n}\n/, "\n");
    expect(checkSubscriptionRead(withoutAssignment, "appIdentity", platformImageVersionsRead)).toEqual([
      `appIdentity is given no role with ${platformImageVersionsRead} at subscription scope in ${rbacPath}`,
    ]);
  });

  it("lets the app identity read the fleet on every usage subscription, with the four reads Resource Graph needs", () => {
    const check = (files: SourceFiles) => checkFleetReader(files, mainPath, "appIdentity", fleetReadActions);
    expect(check(realFiles)).toEqual([]);
    expect(checkRealRoles(realFiles)).toEqual([]);
    const withoutAssignment = mutate(rbacPath, /\nmodule appReadsFleet[\s\S]*?\n]\n/, "\n");
    expect(check(withoutAssignment)).toEqual([
      "appIdentity is given no role on the fleet's subscriptions in infra/app/rbac.bicep (Resource Graph would show it nothing)",
    ]);
    const withoutInstances = mutate(
      rbacPath,
      "\n          'Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read'",
      "",
    );
    expect(check(withoutInstances)).toEqual([
      "appIdentity's fleet role 'fleetReaderRole' lacks Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
    ]);
    const onlyHere = mutate(rbacPath, "scope: subscription(id)", "scope: subscription()");
    expect(check(onlyHere)).toEqual([
      "module 'appReadsFleet' in infra/app/rbac.bicep is not scoped to subscription(id)",
    ]);
    const elsewhere = mutate(
      mainPath,
      "    fleetSubscriptionIds: fleetSubscriptionIds\n",
      "    fleetSubscriptionIds: []\n",
    );
    expect(check(elsewhere)).toEqual([
      "infra/main.bicep grants the fleet role on [] but the app reads usage from fleetSubscriptionIds",
    ]);
  });

  it("gives the fleet role nothing beyond reading, and assigns it through the subscription module only", () => {
    const writes = mutate(
      rbacPath,
      "'Microsoft.Resources/subscriptions/read'\n",
      "'Microsoft.Resources/subscriptions/read'\n          'Microsoft.Compute/virtualMachines/write'\n",
    );
    expect(checkFleetReader(writes, mainPath, "appIdentity", fleetReadActions)).toEqual([
      "appIdentity's fleet role 'fleetReaderRole' also grants Microsoft.Compute/virtualMachines/write",
    ]);
    expect(checkRealRoles(writes)).toEqual(
      expect.arrayContaining([
        expect.stringContaining(
          "role assignment 'appReadsFleet' in infra/app/rbac.bicep is on a subscription with a role",
        ),
      ]),
    );
    const builtInReader = mutate(
      "infra/core/security/subscription-role-assignment.bicep",
      "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionName)",
      "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'acdd72a7-3385-48ef-bd42-f606fba81ae7')",
    );
    expect(checkRealRoles(builtInReader)).toEqual([
      expect.stringContaining("must take principalId and the role (roleDefinitionName) from its parameters"),
    ]);
  });

  it("grants nothing broader at subscription scope", () => {
    const broader = mutate(
      rbacPath,
      `'${platformImageVersionsRead}'\n`,
      `'${platformImageVersionsRead}'\n          'Microsoft.Compute/virtualMachines/read'\n`,
    );
    expect(checkRealRoles(broader)).toEqual(
      expect.arrayContaining([
        expect.stringContaining(
          "'platformImageReaderRole' in infra/app/rbac.bicep is assignable at the subscription with 'Microsoft.Compute/virtualMachines/read'",
        ),
        expect.stringContaining(
          "role assignment 'appReadsPlatformImages' in infra/app/rbac.bicep is at subscription scope",
        ),
      ]),
    );
    const builtInAtSubscription = mutate(
      rbacPath,
      "roleDefinitionId: platformImageReaderRole.id\n    description",
      "roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles.reader)\n    description",
    );
    expect(checkRealRoles(builtInAtSubscription)).toEqual([
      expect.stringContaining(
        "role assignment 'appReadsPlatformImages' in infra/app/rbac.bicep is at subscription scope with subscriptionResourceId",
      ),
    ]);
  });

  it("gives the app identity Azure Service Bus Data Owner on each queue: trigger scaling reads queue lengths", () => {
    const check = (files: SourceFiles) =>
      checkQueueRole(files, "appIdentity", "Azure Service Bus Data Owner", verifiedBuiltInRoles, queueConfigPath);
    expect(check(realFiles)).toEqual([]);
    const receiverOnly = mutate(
      rbacPath,
      "builtInRoles.serviceBusDataOwner)\n      scopeKind: 'serviceBusQueue'",
      "builtInRoles.serviceBusDataReceiver)\n      scopeKind: 'serviceBusQueue'",
    );
    expect(check(receiverOnly)).toEqual([
      "appIdentity does not get Azure Service Bus Data Owner on each queue of shared/config/queues.json (a loop with scopeKind 'serviceBusQueue')",
    ]);
  });

  it("gives Image Builder's identity the documented gallery distribution actions, on the gallery, and no more", () => {
    // Microsoft Learn, "Configure Azure VM Image Builder permissions by using the Azure CLI", distributing to an
    // Azure Compute Gallery; the staging resource group's Contributor comes from Image Builder itself ("VM Image
    // Builder template reference", stagingResourceGroup).
    const galleryDistribution = [
      "Microsoft.Compute/galleries/read",
      "Microsoft.Compute/galleries/images/read",
      "Microsoft.Compute/galleries/images/versions/read",
      "Microsoft.Compute/galleries/images/versions/write",
    ];
    expect(checkBuilderRoles(realFiles, "builderIdentity", galleryDistribution)).toEqual([]);
    const managedImages = mutate(
      rbacPath,
      "'Microsoft.Compute/galleries/images/versions/write'\n        ]\n        notActions: []\n      }\n    ]\n    assignableScopes: [\n      pipelineResourceGroupId\n    ]",
      "'Microsoft.Compute/galleries/images/versions/write'\n          'Microsoft.Compute/images/write'\n        ]\n        notActions: []\n      }\n    ]\n    assignableScopes: [\n      pipelineResourceGroupId\n    ]",
    );
    expect(checkBuilderRoles(managedImages, "builderIdentity", galleryDistribution)).toEqual([
      expect.stringContaining("builderIdentity gets undocumented actions Microsoft.Compute/images/write"),
    ]);
    const onResourceGroup = mutate(
      rbacPath,
      "roleDefinitionId: galleryDistributionRole.id\n    scopeKind: 'gallery'",
      "roleDefinitionId: galleryDistributionRole.id\n    scopeKind: 'resourceGroup'",
    );
    expect(checkBuilderRoles(onResourceGroup, "builderIdentity", galleryDistribution)).toEqual([
      expect.stringContaining("builderIdentity's role is assigned on 'resourceGroup', not on the gallery"),
    ]);
  });

  it("deploys the app only once its role assignments exist", () => {
    expect(checkAppWaitsForRoles(file(mainPath), "app/api.bicep", "app/rbac.bicep")).toEqual([]);
    const mutant = mutate(mainPath, /\n {2}dependsOn: \[\n {4}rbac\n {2}\]/, "");
    expect(checkAppWaitsForRoles(file(mainPath, mutant), "app/api.bicep", "app/rbac.bicep")).toEqual([
      "module 'api' (app/api.bicep) does not depend on 'rbac': the app could start before its roles exist",
    ]);
  });

  it("names subscription-scope deployments per environment and region", () => {
    expect(checkSubscriptionDeploymentNames(file(mainPath))).toEqual([]);
    const mutant = mutate(mainPath, "name: 'rbac-${resourceToken}'", "name: 'rbac'");
    expect(checkSubscriptionDeploymentNames(file(mainPath, mutant))).toEqual([
      "module 'rbac' deploys at subscription scope as 'rbac': a second environment (or region) of the subscription would collide",
    ]);
  });

  it("documents every setting the code reads in the README's Settings table, and no other", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    expect(checkReadmeSettings(readme, settingNames)).toEqual([]);
    const withoutRow = readme.replace(/^\| `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` \|.*\n/m, "");
    expect(checkReadmeSettings(withoutRow, settingNames)).toEqual([
      "setting APPLICATIONINSIGHTS_AUTHENTICATION_STRING (shared/config/settings.ts) is not in the README's Settings table",
    ]);
    const staleRow = readme.replace("| `PRUNE_DRY_RUN` |", "| `PRUNE_DRY_RUN`, `PRUNE_WHAT_IF` |");
    expect(checkReadmeSettings(staleRow, settingNames)).toEqual([
      "the README's Settings table names PRUNE_WHAT_IF, which the code does not read",
    ]);
  });

  it("lists every resource provider to register in infra/README.md, Image Builder's included", () => {
    // Image Builder's own list (Microsoft Learn, "How to use Azure Image Builder triggers", Register the providers):
    // it creates the build VM, its network, storage, Key Vault and container instances in the staging group, none of
    // which the Bicep declares. Microsoft.VirtualMachineImages also comes only at run time (the app creates templates).
    const imageBuilderProviders = [
      "Microsoft.VirtualMachineImages",
      "Microsoft.Compute",
      "Microsoft.KeyVault",
      "Microsoft.Storage",
      "Microsoft.Network",
      "Microsoft.ContainerInstance",
    ];
    const readme = readFileSync(join(root, "infra/README.md"), "utf8");
    expect(checkProviders(readme, realFiles, imageBuilderProviders)).toEqual([]);
    expect(checkProviders(readme.replace(/ Microsoft\.Network\b/, ""), realFiles, imageBuilderProviders)).toEqual([
      "the README's provider registration misses Microsoft.Network",
    ]);
    const withNewType = mutate(
      serviceBusPath,
      "output name string",
      "resource extra 'Microsoft.SignalRService/signalR@2024-03-01' = {\n  name: 'x'\n}\n\noutput name string",
    );
    expect(checkProviders(readme, withNewType, imageBuilderProviders)).toEqual([
      "the README's provider registration misses Microsoft.SignalRService",
    ]);
  });

  it("requires an azd that supports what azure.yaml and the parameters use", () => {
    // Azure/azure-dev CHANGELOG: 1.23.5 added remoteBuild for Flex Consumption apps (#6748; before it every
    // JavaScript/TypeScript function app was built remotely); 1.17.1 introduced AZURE_PRINCIPAL_TYPE (#5285).
    const features: AzdFeature[] = [
      {
        what: "remoteBuild for Flex Consumption function apps",
        since: "1.23.5",
        used: (yaml) =>
          Object.values((yaml.services ?? {}) as Record<string, { host?: string; remoteBuild?: unknown }>).some(
            (s) => s.host === "function" && s.remoteBuild !== undefined,
          ),
      },
      { what: "AZURE_PRINCIPAL_TYPE", since: "1.17.1", used: (_, p) => p.includes("${AZURE_PRINCIPAL_TYPE}") },
    ];
    const parameters = file(parametersPath);
    expect(checkRequiredAzdVersion(azureYaml, parameters, features)).toEqual([]);
    expect(checkRequiredAzdVersion(mutatedYaml('azd: ">= 1.23.5"', 'azd: ">= 1.17.1"'), parameters, features)).toEqual([
      "requiredVersions.azd '>= 1.17.1' allows azd older than 1.23.5, the first with remoteBuild for Flex Consumption function apps",
    ]);
    expect(
      checkRequiredAzdVersion(mutatedYaml('requiredVersions:\n  azd: ">= 1.23.5"\n', ""), parameters, features),
    ).toEqual([
      "azure.yaml has no requiredVersions.azd, and it relies on remoteBuild for Flex Consumption function apps, AZURE_PRINCIPAL_TYPE",
    ]);
  });

  it("creates the webhook secret in the postprovision hook, from outputs, and nowhere in the deployment", () => {
    const hookPath = "infra/hooks/webhook-secret.mjs";
    const hookText = file(hookPath);
    // azd itself sets these in every environment (Azure/azure-dev, pkg/environment/environment.go).
    const azdSet = ["AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID", "AZURE_PRINCIPAL_ID"];
    const check = (yaml: Record<string, unknown>, files: SourceFiles = realFiles) =>
      checkWebhookSecretHook(yaml, hookPath, hookText, file(mainPath, files), files, azdSet);
    expect(check(azureYaml)).toEqual([]);
    expect(check(mutatedYaml("postprovision:", "postdeploy:"))).toEqual([
      `azure.yaml does not run 'node ${hookPath}' as its postprovision hook on every platform`,
    ]);
    expect(check(azureYaml, mutate(mainPath, /\noutput AZURE_FUNCTION_APP_ID string = .*/, ""))).toEqual([
      `${hookPath} reads AZURE_FUNCTION_APP_ID, which main.bicep does not output`,
    ]);
    expect(
      check(azureYaml, mutate(mainPath, "param webhookSecret string = ''", "param webhookSecret string = newGuid()")),
    ).toEqual(["infra/main.bicep uses newGuid(): a new value at every deployment"]);
  });
});

describe("telemetry in infra/ (issue 21)", () => {
  const hostJson = readFileSync(join(root, "host.json"), "utf8");

  it("sends to Application Insights with the app's identity (Entra ID, no key) and turns on the host's OpenTelemetry mode", () => {
    expect(checkTelemetry(realFiles, hostJson)).toEqual([]);
  });

  it("reports Application Insights that still accepts its key", () => {
    const mutant = mutate("infra/core/monitor/monitoring.bicep", "DisableLocalAuth: true", "DisableLocalAuth: false");
    expect(checkTelemetry(mutant, hostJson)).toEqual([
      "Application Insights in infra/core/monitor/monitoring.bicep accepts its instrumentation key alone (DisableLocalAuth is not true)",
    ]);
  });

  it("reports an authentication string without Entra ID, or for another identity", () => {
    const withoutAad = mutate(apiPath, ";Authorization=AAD'", "'");
    expect(checkTelemetry(withoutAad, hostJson)).toEqual([
      "APPLICATIONINSIGHTS_AUTHENTICATION_STRING in infra/app/api.bicep does not ask for Authorization=AAD",
    ]);
    const otherIdentity = mutate(
      apiPath,
      "'ClientId=${identity.properties.clientId}",
      "'ClientId=${other.properties.clientId}",
    );
    expect(checkTelemetry(otherIdentity, hostJson)).toEqual([
      "APPLICATIONINSIGHTS_AUTHENTICATION_STRING in infra/app/api.bicep names ClientId other.properties.clientId, not the app's identity (identity.properties.clientId)",
    ]);
  });

  it("reports an instrumentation key in the app settings", () => {
    const mutant = mutate(
      apiPath,
      "APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString",
      "APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString\n    APPINSIGHTS_INSTRUMENTATIONKEY: applicationInsights.properties.InstrumentationKey",
    );
    expect(checkTelemetry(mutant, hostJson)).toEqual([
      "APPINSIGHTS_INSTRUMENTATIONKEY is set in infra/app/api.bicep: ingestion must use Entra ID, not a key",
    ]);
  });

  it("reports an app identity that may not publish telemetry", () => {
    const mutant = mutate(rbacPath, "scopeKind: 'applicationInsights'", "scopeKind: 'keyVault'");
    expect(checkTelemetry(mutant, hostJson)).toEqual([
      "appIdentity is not Monitoring Metrics Publisher on the Application Insights component in infra/app/rbac.bicep",
    ]);
  });

  it("reports a host left out of OpenTelemetry mode", () => {
    const without = hostJson.replace(/\n\s*"telemetryMode": "OpenTelemetry",/, "");
    expect(without).not.toBe(hostJson);
    expect(checkTelemetry(realFiles, without)).toEqual(["host.json's telemetryMode is unset, not OpenTelemetry"]);
  });
});
