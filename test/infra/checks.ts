/**
 * Consistency checks between infra/ (Bicep) and the code, as functions over file texts: each returns the problems
 * it finds (empty when consistent), so the tests can run them on the real files and on mutated copies.
 */
import { posix } from "node:path";
import {
  arrayItems,
  callArguments,
  commentedVarEntries,
  objectEntries,
  parseBicep,
  resolveObject,
  stringLiteral,
  valueAt,
  type BicepDeployable,
  type BicepEntry,
  type BicepFile,
} from "./bicep.js";

/** Repository-relative path (posix) → file text. */
export type SourceFiles = ReadonlyMap<string, string>;

export const rbacPath = "infra/app/rbac.bicep";
export const roleAssignmentModulePath = "infra/core/security/role-assignment.bicep";
/** The module that assigns a role on a whole subscription (the fleet's, for Resource Graph). */
export const subscriptionRoleAssignmentModulePath = "infra/core/security/subscription-role-assignment.bicep";

const roleAssignmentType = "Microsoft.Authorization/roleAssignments";
const roleDefinitionType = "Microsoft.Authorization/roleDefinitions";
const identityType = "Microsoft.ManagedIdentity/userAssignedIdentities";
const resourceGroupType = "Microsoft.Resources/resourceGroups";

function bicepFiles(files: SourceFiles): Array<[string, BicepFile]> {
  return [...files].filter(([path]) => path.endsWith(".bicep")).map(([path, text]) => [path, parseBicep(text)]);
}

/** Resolves a path written in a Bicep file (module path, loadJsonContent) against that file's folder. */
export function resolveFrom(bicepPath: string, relative: string): string {
  return posix.normalize(posix.join(posix.dirname(bicepPath), relative));
}

// --- Queues -------------------------------------------------------------------------------------------------------

/** The loaded JSON behind an expression such as `queueConfig.queues` or `loadJsonContent('...').queues`. */
function loadedJsonPath(expression: string, file: BicepFile): { path: string; member: string } | undefined {
  const match = /^(.*)\.(\w+)$/s.exec(expression.trim());
  if (!match) return undefined;
  let holder = match[1]!.trim();
  if (/^\w+$/.test(holder) && file.vars.has(holder)) holder = file.vars.get(holder)!.trim();
  const args = callArguments(holder, "loadJsonContent");
  const path = args?.length === 1 ? stringLiteral(args[0]!) : undefined;
  return path === undefined ? undefined : { path, member: match[2]! };
}

/**
 * Every Service Bus queue is created by a loop over the `queues` of the shared definition, with its name and each
 * property taken from the JSON (so Azure and the local emulator agree by construction).
 */
export function checkQueues(
  files: SourceFiles,
  queueConfigPath: string,
  queueConfig: { queues: ReadonlyArray<{ name: string; properties: Record<string, unknown> }> },
): string[] {
  const problems: string[] = [];
  const propertyNames = [...new Set(queueConfig.queues.flatMap((q) => Object.keys(q.properties)))];
  let queueResources = 0;
  for (const [path, file] of bicepFiles(files)) {
    for (const resource of file.resources) {
      if (resource.target !== "Microsoft.ServiceBus/namespaces/queues" || resource.existing) continue;
      queueResources += 1;
      const where = `queue resource '${resource.symbol}' in ${path}`;
      const loaded = resource.loop ? loadedJsonPath(resource.loop.source, file) : undefined;
      if (
        !resource.loop ||
        !loaded ||
        resolveFrom(path, loaded.path) !== queueConfigPath ||
        loaded.member !== "queues"
      ) {
        problems.push(`${where} does not loop over loadJsonContent('${queueConfigPath}').queues`);
        continue;
      }
      const item = resource.loop.item;
      if (valueAt(resource.body, ["name"]) !== `${item}.name`) {
        problems.push(`${where}: name is not ${item}.name`);
      }
      const properties = valueAt(resource.body, ["properties"]);
      if (properties === `${item}.properties`) continue;
      const entries = properties === undefined ? [] : objectEntries(properties);
      for (const name of propertyNames) {
        if (!entries.some((e) => e.key === name && e.value === `${item}.properties.${name}`)) {
          problems.push(
            `${where}: property ${name} of ${queueConfigPath} is not mapped (${name}: ${item}.properties.${name})`,
          );
        }
      }
      for (const entry of entries) {
        if (entry.value !== `${item}.properties.${entry.key}`) {
          problems.push(
            `${where}: property ${entry.key} is set in Bicep (${entry.value}), not from ${queueConfigPath}`,
          );
        }
      }
    }
  }
  if (queueResources === 0) problems.push("no Microsoft.ServiceBus/namespaces/queues resource in infra/");
  return problems;
}

// --- App settings -------------------------------------------------------------------------------------------------

/** The Function App's app settings: the entries of the `Microsoft.Web/sites/config` 'appsettings' resource. */
export function appSettingEntries(
  files: SourceFiles,
): { path: string; file: BicepFile; entries: BicepEntry[] } | string {
  const found: Array<{ path: string; file: BicepFile; properties: string | undefined }> = [];
  for (const [path, file] of bicepFiles(files)) {
    for (const resource of file.resources) {
      if (resource.target !== "Microsoft.Web/sites/config" || resource.existing) continue;
      if (stringLiteral(valueAt(resource.body, ["name"]) ?? "") !== "appsettings") continue;
      found.push({ path, file, properties: valueAt(resource.body, ["properties"]) });
    }
  }
  if (found.length !== 1)
    return `expected one Microsoft.Web/sites/config 'appsettings' resource, found ${found.length}`;
  const { path, file, properties } = found[0]!;
  const entries = properties === undefined ? undefined : resolveObject(properties, file);
  if (!entries)
    return `the app settings in ${path} are not an object literal (or union of literals) the check can read`;
  return { path, file, entries };
}

/** Settings the Flex Consumption plan rejects or ignores (functionAppConfig and the platform own them). */
export const flexConsumptionDeprecatedSettings = [
  "FUNCTIONS_EXTENSION_VERSION",
  "FUNCTIONS_WORKER_RUNTIME",
  "FUNCTIONS_WORKER_RUNTIME_VERSION",
  "WEBSITE_RUN_FROM_PACKAGE",
  "WEBSITE_CONTENTSHARE",
  "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
  "WEBSITE_NODE_DEFAULT_VERSION",
];

/** Every string literal an expression can evaluate to, following variables; `undefined` if it reads a parameter. */
function possibleStrings(expression: string, file: BicepFile, depth = 0): string[] | undefined {
  const text = expression.trim();
  if (depth > 5) return undefined;
  const literal = /^'(?:[^'\\]|\\.)*'$/.test(text) ? text.slice(1, -1) : undefined;
  if (literal !== undefined) return [literal];
  if (/^\w+$/.test(text)) {
    const value = file.vars.get(text);
    return value === undefined ? undefined : possibleStrings(value, file, depth + 1);
  }
  const ternary = /^([^?]+)\?([\s\S]+):([\s\S]+)$/.exec(text);
  if (ternary) {
    const whenTrue = possibleStrings(ternary[2]!, file, depth + 1);
    const whenFalse = possibleStrings(ternary[3]!, file, depth + 1);
    return whenTrue && whenFalse ? [...whenTrue, ...whenFalse] : undefined;
  }
  return undefined;
}

/**
 * Every setting the code reads is an app setting unless it is local-only; local-only ones are absent; the runtime's
 * own connections use the app's identity; secrets are Key Vault references.
 */
export function checkAppSettings(
  files: SourceFiles,
  settingNames: readonly string[],
  localOnlySettings: Readonly<Record<string, string>>,
): string[] {
  const found = appSettingEntries(files);
  if (typeof found === "string") return [found];
  const { path, file, entries } = found;
  const value = (key: string): string | undefined => entries.find((e) => e.key === key)?.value;
  const problems: string[] = [];
  for (const name of settingNames) {
    if (name in localOnlySettings) continue;
    if (value(name) === undefined) {
      problems.push(`setting ${name} (shared/config/settings.ts) is not declared in the app settings in ${path}`);
    }
  }
  for (const [name, reason] of Object.entries(localOnlySettings)) {
    if (value(name) !== undefined) problems.push(`setting ${name} is local-only (${reason}) but set in ${path}`);
  }
  for (const name of flexConsumptionDeprecatedSettings) {
    if (value(name) !== undefined) problems.push(`setting ${name} is not supported on Flex Consumption (${path})`);
  }
  if (value("AzureWebJobsStorage") !== undefined) {
    problems.push(`AzureWebJobsStorage (a connection string) is set in ${path}; use AzureWebJobsStorage__accountName`);
  }
  for (const connection of ["AzureWebJobsStorage", "ServiceBusConnection"]) {
    const target = connection === "AzureWebJobsStorage" ? "accountName" : "fullyQualifiedNamespace";
    if (value(`${connection}__${target}`) === undefined)
      problems.push(`${connection}__${target} is missing in ${path}`);
    if (value(`${connection}__credential`) !== "'managedidentity'") {
      problems.push(`${connection}__credential is not 'managedidentity' in ${path}`);
    }
  }
  // One identity for everything: the same client id for the host's connections and for the SDK clients.
  const clientIds = ["AZURE_CLIENT_ID", "AzureWebJobsStorage__clientId", "ServiceBusConnection__clientId"].map((k) => [
    k,
    value(k),
  ]);
  const distinct = new Set(clientIds.map(([, v]) => v));
  if (distinct.size !== 1 || distinct.has(undefined)) {
    problems.push(`${clientIds.map(([k, v]) => `${k}=${v}`).join(", ")} must all be the app identity's client id`);
  }
  for (const entry of entries) {
    if (!/SECRET|PASSWORD|KEY$/i.test(entry.key)) continue;
    const candidates = possibleStrings(entry.value, file);
    const references = candidates?.filter((c) => c.length > 0) ?? [];
    if (
      !candidates ||
      references.length === 0 ||
      !references.every((c) => c.startsWith("@Microsoft.KeyVault(SecretUri="))
    ) {
      problems.push(`setting ${entry.key} in ${path} is not a @Microsoft.KeyVault(SecretUri=...) reference`);
    }
  }
  return problems;
}

/** App settings written as literals must equal the code's default, so Azure and local runs behave alike. */
export function checkSettingDefaults(
  entries: readonly BicepEntry[],
  defaults: Readonly<Record<string, unknown>>,
): string[] {
  const problems: string[] = [];
  for (const entry of entries) {
    const literal = stringLiteral(entry.value);
    if (literal === undefined || !(entry.key in defaults)) continue;
    const expected = defaults[entry.key];
    if (expected !== undefined && literal.toLowerCase() !== String(expected).toLowerCase()) {
      problems.push(`app setting ${entry.key} is '${literal}' but the code's default is '${String(expected)}'`);
    }
  }
  return problems;
}

// --- Roles --------------------------------------------------------------------------------------------------------

/** Role definition ids that must appear nowhere in infra/: too broad for a pipeline identity. */
export const forbiddenRoles: Readonly<Record<string, string>> = {
  "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
  "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
  "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
  "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
};

const builtInRolePattern =
  /^subscriptionResourceId\(\s*'Microsoft\.Authorization\/roleDefinitions'\s*,\s*(\w+)\.(\w+)\s*\)$/;

/** The actions of a custom role definition (string literals of its permissions' `actions`). */
function customRoleActions(role: BicepDeployable): string[] {
  const permissions = valueAt(role.body, ["properties", "permissions"]) ?? "";
  return arrayItems(permissions).flatMap((permission) =>
    arrayItems(valueAt(permission, ["actions"]) ?? "").map((a) => stringLiteral(a) ?? a),
  );
}

/** Whether an assignable scope expression is the subscription itself. */
function isSubscriptionScope(scope: string): boolean {
  return /^subscription\(\)\.id$/.test(scope.trim());
}

/**
 * Roles: every assignment goes through the role-assignment module, called only from rbac.bicep, whose calls name a
 * user-assigned identity defined there (or an external principal given by a parameter, with the one role that
 * parameter may get) and a built-in role from its commented table (id and name verified) or a custom role it defines.
 * No Owner, Contributor or access administrator role anywhere; custom roles cannot touch authorization and are
 * assignable to resource groups only, except a role made only of `subscriptionScopeActions`, which may be assignable
 * to the subscription and assigned there, by a role assignment declared in rbac.bicep, to an identity it defines.
 */
export function checkRoles(
  files: SourceFiles,
  verifiedBuiltInRoles: Readonly<Record<string, string>>,
  externalPrincipalParams: Readonly<Record<string, string>>,
  subscriptionScopeActions: readonly string[] = [],
  fleetReadActions: readonly string[] = [],
): string[] {
  const problems: string[] = [];
  const parsed = bicepFiles(files);

  for (const [path, text] of files) {
    if (!path.startsWith("infra/")) continue;
    for (const [id, name] of Object.entries(forbiddenRoles)) {
      if (text.toLowerCase().includes(id)) problems.push(`${path} names the ${name} role (${id})`);
    }
  }

  for (const [path, file] of parsed) {
    for (const resource of file.resources) {
      if (resource.target !== roleAssignmentType || resource.existing) continue;
      if (path === rbacPath) continue; // subscription-scope assignments, checked below
      if (path === subscriptionRoleAssignmentModulePath) {
        problems.push(...checkSubscriptionAssignmentResource(resource, file, path));
        continue;
      }
      if (path !== roleAssignmentModulePath) {
        problems.push(`role assignment '${resource.symbol}' in ${path}: assign roles through ${rbacPath}`);
        continue;
      }
      const properties = resolveObject(valueAt(resource.body, ["properties"]) ?? "", file) ?? [];
      const get = (key: string): string | undefined => properties.find((e) => e.key === key)?.value;
      if (!/^guid\(/.test(valueAt(resource.body, ["name"]) ?? "")) {
        problems.push(`role assignment '${resource.symbol}' in ${path} is not named with guid()`);
      }
      if (get("principalId") !== "principalId" || get("roleDefinitionId") !== "roleDefinitionId") {
        problems.push(
          `role assignment '${resource.symbol}' in ${path} must take principalId and roleDefinitionId from its parameters`,
        );
      }
    }
    for (const module of file.modules) {
      const target = resolveFrom(path, module.target);
      if (
        (target === roleAssignmentModulePath || target === subscriptionRoleAssignmentModulePath) &&
        path !== rbacPath
      ) {
        problems.push(`module '${module.symbol}' in ${path} assigns a role outside ${rbacPath}`);
      }
    }
  }

  const rbacText = files.get(rbacPath);
  if (rbacText === undefined) return [...problems, `${rbacPath} is missing`];
  const rbac = parseBicep(rbacText);

  const roleTable = [...rbac.vars.keys()].find((name) =>
    commentedVarEntries(rbac, name).some((e) => /^'[0-9a-f-]{36}'$/.test(e.value)),
  );
  const builtInRoles = new Map<string, string>();
  for (const entry of roleTable === undefined ? [] : commentedVarEntries(rbac, roleTable)) {
    const id = stringLiteral(entry.value)?.toLowerCase() ?? "";
    const verified = verifiedBuiltInRoles[id];
    if (!entry.comment) problems.push(`built-in role ${entry.key} (${id}) in ${rbacPath} has no comment naming it`);
    else if (verified === undefined)
      problems.push(`built-in role ${entry.key} (${id}) in ${rbacPath} is not a verified role id`);
    else if (entry.comment !== verified) {
      problems.push(
        `built-in role ${entry.key} in ${rbacPath}: comment says '${entry.comment}' but ${id} is '${verified}'`,
      );
    }
    builtInRoles.set(entry.key, id);
  }

  const identities = new Set(rbac.resources.filter((r) => r.target === identityType).map((r) => r.symbol));
  const customRoles = rbac.resources.filter((r) => r.target === roleDefinitionType && !r.existing);
  const resourceGroups = new Set(rbac.resources.filter((r) => r.target === resourceGroupType).map((r) => r.symbol));

  const subscriptionRoles = new Set<string>();
  const fleetRoles = new Set<string>();
  for (const role of customRoles) {
    const actions = customRoleActions(role);
    for (const action of actions) {
      if (action === "*" || action.startsWith("*/") || action.startsWith("Microsoft.Authorization/")) {
        problems.push(`custom role '${role.symbol}' in ${rbacPath} allows '${action}'`);
      }
    }
    // Reading the fleet is the one role assignable on other subscriptions (checked by checkFleetReader).
    if (actions.length > 0 && actions.every((a) => fleetReadActions.includes(a))) {
      fleetRoles.add(role.symbol);
      continue;
    }
    for (const scope of arrayItems(valueAt(role.body, ["properties", "assignableScopes"]) ?? "")) {
      const expanded = rbac.vars.get(scope) ?? scope;
      if (expanded.includes("/resourceGroups/")) continue;
      const broader = actions.filter((a) => !subscriptionScopeActions.includes(a));
      if (isSubscriptionScope(expanded) && actions.length > 0 && broader.length === 0) {
        subscriptionRoles.add(role.symbol);
      } else if (isSubscriptionScope(expanded)) {
        problems.push(
          `custom role '${role.symbol}' in ${rbacPath} is assignable at the subscription with ${broader.map((a) => `'${a}'`).join(", ") || "no action"}; only ${subscriptionScopeActions.join(", ")} may be`,
        );
      } else {
        problems.push(`custom role '${role.symbol}' in ${rbacPath} is assignable at ${scope}, not a resource group`);
      }
    }
  }

  for (const assignment of rbac.resources.filter((r) => r.target === roleAssignmentType && !r.existing)) {
    const where = `role assignment '${assignment.symbol}' in ${rbacPath}`;
    if (valueAt(assignment.body, ["scope"]) !== undefined) {
      problems.push(
        `${where} has a scope: assign on resource groups and resources through ${roleAssignmentModulePath}`,
      );
    }
    if (!/^guid\(/.test(valueAt(assignment.body, ["name"]) ?? "")) problems.push(`${where} is not named with guid()`);
    const roleId = valueAt(assignment.body, ["properties", "roleDefinitionId"]) ?? "";
    const role = /^(\w+)\.id$/.exec(roleId)?.[1];
    if (role === undefined || !subscriptionRoles.has(role)) {
      problems.push(
        `${where} is at subscription scope with ${roleId || "no role"}, which is not a custom role made only of ${subscriptionScopeActions.join(", ") || "allowed subscription actions"}`,
      );
    }
    const principal = valueAt(assignment.body, ["properties", "principalId"]) ?? "";
    const identity = /^(\w+)\.properties\.principalId$/.exec(principal)?.[1];
    if (identity === undefined || !identities.has(identity)) {
      problems.push(
        `${where}: principalId ${principal || "(none)"} is not a user-assigned identity defined in ${rbacPath}`,
      );
    }
  }

  for (const module of rbac.modules.filter(
    (m) => resolveFrom(rbacPath, m.target) === subscriptionRoleAssignmentModulePath,
  )) {
    const where = `role assignment '${module.symbol}' in ${rbacPath}`;
    const params = objectEntries(valueAt(module.body, ["params"]) ?? "{}");
    const role = /^(\w+)\.name$/.exec(params.find((e) => e.key === "roleDefinitionName")?.value ?? "")?.[1];
    if (role === undefined || !fleetRoles.has(role)) {
      problems.push(
        `${where} is on a subscription with a role that is not made only of ${fleetReadActions.join(", ") || "fleet reads"}`,
      );
    }
    const principal = params.find((e) => e.key === "principalId")?.value ?? "";
    const identity = /^(\w+)\.properties\.principalId$/.exec(principal)?.[1];
    if (identity === undefined || !identities.has(identity)) {
      problems.push(
        `${where}: principalId ${principal || "(none)"} is not a user-assigned identity defined in ${rbacPath}`,
      );
    }
  }

  if (roleTable === undefined) problems.push(`${rbacPath} has no commented table of built-in role ids`);
  const assignments = rbac.modules.filter((m) => resolveFrom(rbacPath, m.target) === roleAssignmentModulePath);
  if (assignments.length === 0) problems.push(`${rbacPath} assigns no role through ${roleAssignmentModulePath}`);
  for (const module of assignments) {
    const where = `role assignment '${module.symbol}' in ${rbacPath}`;
    const params = objectEntries(valueAt(module.body, ["params"]) ?? "{}");
    const param = (key: string): string => params.find((e) => e.key === key)?.value ?? "";
    const scope = valueAt(module.body, ["scope"]) ?? "";
    if (!resourceGroups.has(scope)) problems.push(`${where} is not scoped to one of the pipeline's resource groups`);

    const roleId = param("roleDefinitionId");
    const builtIn = builtInRolePattern.exec(roleId);
    const customRole = /^(\w+)\.id$/.exec(roleId);
    let roleKey: string | undefined;
    if (builtIn && builtIn[1] === roleTable && builtInRoles.has(builtIn[2]!)) roleKey = builtIn[2]!;
    else if (!(customRole && customRoles.some((r) => r.symbol === customRole[1]))) {
      problems.push(
        `${where}: roleDefinitionId ${roleId || "(none)"} is neither a commented built-in role nor a custom role defined in ${rbacPath}`,
      );
    }

    const principal = param("principalId");
    const identity = /^(\w+)\.properties\.principalId$/.exec(principal);
    const external =
      module.loop && principal === `${module.loop.item}.principalId`
        ? module.loop.source
        : /^\w+$/.test(principal) && rbac.params.some((p) => p.name === principal)
          ? principal
          : undefined;
    if (identity && identities.has(identity[1]!)) continue;
    if (external !== undefined && external in externalPrincipalParams) {
      if (roleKey !== externalPrincipalParams[external]) {
        problems.push(`${where}: principals from ${external} may only get ${externalPrincipalParams[external]}`);
      }
      continue;
    }
    problems.push(
      `${where}: principalId ${principal || "(none)"} is not a user-assigned identity defined in ${rbacPath}`,
    );
  }
  return problems;
}

// --- Modules and parameters ---------------------------------------------------------------------------------------

/** Every module (and loadJsonContent file) reachable from main.bicep exists in the repository; no registry modules. */
export function checkModules(files: SourceFiles, mainPath: string, exists: (path: string) => boolean): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    const text = files.get(path);
    if (text === undefined) return;
    const file = parseBicep(text);
    for (const module of file.modules) {
      if (/^(br|ts)[:/]/.test(module.target)) {
        problems.push(
          `module '${module.symbol}' in ${path} comes from a registry (${module.target}); keep infra/ self-contained`,
        );
        continue;
      }
      const target = resolveFrom(path, module.target);
      if (!files.has(target) && !exists(target)) {
        problems.push(`module '${module.symbol}' in ${path}: ${module.target} does not exist`);
      } else visit(target);
    }
    for (const match of text.matchAll(/load(?:Json|Text|Yaml)Content\(\s*'([^']+)'/g)) {
      const target = resolveFrom(path, match[1]!);
      if (!files.has(target) && !exists(target)) problems.push(`${path} loads ${match[1]}, which does not exist`);
    }
  };
  visit(mainPath);
  return problems;
}

/** Parameters of main.bicep without a default are given in main.parameters.json; secure ones only from the environment. */
export function checkParameters(mainText: string, parametersJson: string): string[] {
  const problems: string[] = [];
  const main = parseBicep(mainText);
  let given: Record<string, { value?: unknown }>;
  try {
    given = (JSON.parse(parametersJson) as { parameters?: Record<string, { value?: unknown }> }).parameters ?? {};
  } catch (error) {
    return [`main.parameters.json is not JSON: ${(error as Error).message}`];
  }
  for (const param of main.params) {
    if (!param.hasDefault && !(param.name in given)) {
      problems.push(`parameter ${param.name} of main.bicep has no default and is not in main.parameters.json`);
    }
    const value = given[param.name]?.value;
    if (param.secure && value !== undefined && !(typeof value === "string" && /^\$\{\w+\}$/.test(value))) {
      problems.push(`secure parameter ${param.name} must come from an environment variable, not a literal`);
    }
  }
  for (const name of Object.keys(given)) {
    if (!main.params.some((p) => p.name === name))
      problems.push(`main.parameters.json sets ${name}, which main.bicep does not declare`);
  }
  return problems;
}

/** Outputs of main.bicep are UPPER_SNAKE (azd turns them into environment variables) and include the required ones. */
export function checkOutputs(mainText: string, required: readonly string[]): string[] {
  const outputs = parseBicep(mainText).outputs.map((o) => o.name);
  return [
    ...outputs.filter((o) => !/^[A-Z][A-Z0-9_]*$/.test(o)).map((o) => `output ${o} of main.bicep is not UPPER_SNAKE`),
    ...required.filter((r) => !outputs.includes(r)).map((r) => `main.bicep has no output ${r}`),
  ];
}

// --- Bicep hygiene ------------------------------------------------------------------------------------------------

/** Names a parameter or variable must not take: they would hide the decorator of the same name in that file. */
const decoratorNames = [
  "description",
  "secure",
  "allowed",
  "minValue",
  "maxValue",
  "minLength",
  "maxLength",
  "metadata",
];

/**
 * What a compiler would catch and this reader can: symbols that hide decorators, and resource types or api-versions
 * nobody checked against the resource reference.
 */
export function checkBicepHygiene(files: SourceFiles, verifiedApiVersions: Readonly<Record<string, string>>): string[] {
  const problems: string[] = [];
  for (const [path, file] of bicepFiles(files)) {
    for (const name of [...file.params.map((p) => p.name), ...file.vars.keys()]) {
      if (decoratorNames.includes(name)) problems.push(`${path}: '${name}' hides the @${name} decorator; rename it`);
    }
    for (const resource of file.resources) {
      const verified = verifiedApiVersions[resource.target];
      if (verified === undefined)
        problems.push(`${path}: resource type ${resource.target} has no verified api-version`);
      else if (resource.apiVersion !== verified) {
        problems.push(`${path}: ${resource.target}@${resource.apiVersion ?? "?"} is not the verified ${verified}`);
      }
    }
  }
  return problems;
}

// --- Issue 14: a deployment that works with azd up defaults ----------------------------------------------------------

/** The role-assignment modules of rbac.bicep, with their params read. */
function assignmentModules(rbac: BicepFile) {
  return rbac.modules
    .filter((m) => resolveFrom(rbacPath, m.target) === roleAssignmentModulePath)
    .map((module) => {
      const params = objectEntries(valueAt(module.body, ["params"]) ?? "{}");
      const param = (key: string): string => params.find((e) => e.key === key)?.value ?? "";
      return { module, param };
    });
}

/** Built-in role key (in rbac.bicep's table) → role id, lower case. */
function builtInRoleTable(rbac: BicepFile): Map<string, string> {
  const table = [...rbac.vars.keys()].find((name) =>
    commentedVarEntries(rbac, name).some((e) => /^'[0-9a-f-]{36}'$/.test(e.value)),
  );
  return new Map(
    (table === undefined ? [] : commentedVarEntries(rbac, table)).map((e) => [
      e.key,
      stringLiteral(e.value)?.toLowerCase() ?? "",
    ]),
  );
}

/** The subscription module's own assignment: named with guid(), principal and role from its parameters. */
function checkSubscriptionAssignmentResource(resource: BicepDeployable, file: BicepFile, path: string): string[] {
  const problems: string[] = [];
  if (!/^guid\(/.test(valueAt(resource.body, ["name"]) ?? "")) {
    problems.push(`role assignment '${resource.symbol}' in ${path} is not named with guid()`);
  }
  if (valueAt(resource.body, ["scope"]) !== undefined) {
    problems.push(
      `role assignment '${resource.symbol}' in ${path} has a scope: it is on the deployment's subscription`,
    );
  }
  const properties = resolveObject(valueAt(resource.body, ["properties"]) ?? "", file) ?? [];
  const get = (key: string): string | undefined => properties.find((e) => e.key === key)?.value;
  const roleVar = get("roleDefinitionId") ?? "";
  const roleExpression = file.vars.get(roleVar) ?? roleVar;
  if (
    get("principalId") !== "principalId" ||
    !/^subscriptionResourceId\(\s*'Microsoft\.Authorization\/roleDefinitions'\s*,\s*roleDefinitionName\s*\)$/.test(
      roleExpression,
    )
  ) {
    problems.push(
      `role assignment '${resource.symbol}' in ${path} must take principalId and the role (roleDefinitionName) from its parameters`,
    );
  }
  return problems;
}

/**
 * Resource Graph shows the caller only what it may read, and leaves the rest out without a sign (Learn, "Permissions in
 * Azure Resource Graph"): `identity` must hold, on every subscription of the fleet (main.bicep's
 * `fleetSubscriptionIds`, the same list the app reads as USAGE_SUBSCRIPTION_IDS), a custom role whose actions are
 * exactly `actions`, assigned through the subscription module in a loop over that list, each at `subscription(id)`.
 */
export function checkFleetReader(
  files: SourceFiles,
  mainPath: string,
  identity: string,
  actions: readonly string[],
): string[] {
  const text = files.get(rbacPath);
  const mainText = files.get(mainPath);
  if (text === undefined || mainText === undefined) return [`${rbacPath} or ${mainPath} is missing`];
  const problems: string[] = [];
  const rbac = parseBicep(text);
  const main = parseBicep(mainText);
  const roles = rbac.resources.filter((r) => r.target === roleDefinitionType && !r.existing);
  const modules = rbac.modules.filter((m) => resolveFrom(rbacPath, m.target) === subscriptionRoleAssignmentModulePath);
  const granted = modules.filter((module) => {
    const params = objectEntries(valueAt(module.body, ["params"]) ?? "{}");
    const param = (key: string) => params.find((e) => e.key === key)?.value ?? "";
    if (param("principalId") !== `${identity}.properties.principalId`) return false;
    const role = roles.find((r) => `${r.symbol}.name` === param("roleDefinitionName"));
    if (role === undefined) return false;
    const held = customRoleActions(role);
    const missing = actions.filter((a) => !held.includes(a));
    const extra = held.filter((a) => !actions.includes(a));
    if (missing.length > 0 || extra.length > 0) {
      problems.push(
        `${identity}'s fleet role '${role.symbol}' ${[missing.length > 0 ? `lacks ${missing.join(", ")}` : "", extra.length > 0 ? `also grants ${extra.join(", ")}` : ""].filter(Boolean).join(" and ")}`,
      );
    }
    const loop = module.loop;
    if (loop === undefined || loop.source !== "fleetSubscriptionIds") {
      problems.push(`module '${module.symbol}' in ${rbacPath} is not a loop over fleetSubscriptionIds`);
    } else if ((valueAt(module.body, ["scope"]) ?? "").replace(/\s/g, "") !== `subscription(${loop.item})`) {
      problems.push(`module '${module.symbol}' in ${rbacPath} is not scoped to subscription(${loop.item})`);
    }
    return true;
  });
  if (granted.length === 0) {
    problems.push(
      `${identity} is given no role on the fleet's subscriptions in ${rbacPath} (Resource Graph would show it nothing)`,
    );
  }
  const rbacModule = main.modules.find((m) => resolveFrom(mainPath, m.target) === rbacPath);
  const apiModule = main.modules.find((m) => resolveFrom(mainPath, m.target) === "infra/app/api.bicep");
  const paramOf = (module: typeof rbacModule, key: string) =>
    objectEntries(valueAt(module?.body ?? "{}", ["params"]) ?? "{}").find((e) => e.key === key)?.value;
  const readFrom = paramOf(apiModule, "usageSubscriptionIds");
  const grantedOn = paramOf(rbacModule, "fleetSubscriptionIds");
  if (readFrom === undefined || grantedOn !== readFrom) {
    problems.push(
      `${mainPath} grants the fleet role on ${grantedOn ?? "nothing"} but the app reads usage from ${readFrom ?? "nothing"}`,
    );
  }
  return problems;
}

/**
 * `identity` holds, at subscription scope, a custom role that grants `action` (listing platform image versions is a
 * subscription-scope read: without it every `latest` source answers 403).
 */
export function checkSubscriptionRead(files: SourceFiles, identity: string, action: string): string[] {
  const text = files.get(rbacPath);
  if (text === undefined) return [`${rbacPath} is missing`];
  const rbac = parseBicep(text);
  const roles = rbac.resources.filter((r) => r.target === roleDefinitionType && !r.existing);
  const granted = rbac.resources.some((assignment) => {
    if (assignment.target !== roleAssignmentType || assignment.existing || assignment.condition) return false;
    if (valueAt(assignment.body, ["scope"]) !== undefined) return false;
    if (valueAt(assignment.body, ["properties", "principalId"]) !== `${identity}.properties.principalId`) return false;
    const role = /^(\w+)\.id$/.exec(valueAt(assignment.body, ["properties", "roleDefinitionId"]) ?? "")?.[1];
    const definition = roles.find((r) => r.symbol === role);
    return definition !== undefined && customRoleActions(definition).includes(action);
  });
  return granted ? [] : [`${identity} is given no role with ${action} at subscription scope in ${rbacPath}`];
}

/**
 * Image Builder's identity gets exactly the documented actions for distributing into a gallery, on the gallery, and
 * no other role (Image Builder grants itself Contributor on the staging group it creates).
 */
export function checkBuilderRoles(
  files: SourceFiles,
  identity: string,
  documentedActions: readonly string[],
): string[] {
  const text = files.get(rbacPath);
  if (text === undefined) return [`${rbacPath} is missing`];
  const rbac = parseBicep(text);
  const problems: string[] = [];
  const roles = rbac.resources.filter((r) => r.target === roleDefinitionType && !r.existing);
  const assignments = assignmentModules(rbac).filter(
    ({ param }) => param("principalId") === `${identity}.properties.principalId`,
  );
  if (assignments.length === 0) problems.push(`${identity} has no role in ${rbacPath}`);
  for (const { module, param } of assignments) {
    const where = `role assignment '${module.symbol}' in ${rbacPath}`;
    const role = roles.find((r) => `${r.symbol}.id` === param("roleDefinitionId"));
    if (role === undefined) {
      problems.push(
        `${where} gives ${identity} ${param("roleDefinitionId")}, not a custom role with the documented actions`,
      );
      continue;
    }
    const actions = customRoleActions(role);
    const extra = actions.filter((a) => !documentedActions.includes(a));
    const missing = documentedActions.filter((a) => !actions.includes(a));
    if (extra.length > 0) problems.push(`${where}: ${identity} gets undocumented actions ${extra.join(", ")}`);
    if (missing.length > 0) problems.push(`${where}: ${identity} lacks ${missing.join(", ")}`);
    if (stringLiteral(param("scopeKind")) !== "gallery") {
      problems.push(`${where}: ${identity}'s role is assigned on ${param("scopeKind")}, not on the gallery`);
    }
  }
  return problems;
}

/**
 * `identity` holds `roleName` (a built-in role of the table) on every queue of the shared definition: each trigger's
 * scaling reads its queue's length, which needs the Manage right.
 */
export function checkQueueRole(
  files: SourceFiles,
  identity: string,
  roleName: string,
  verifiedBuiltInRoles: Readonly<Record<string, string>>,
  queueConfigPath: string,
): string[] {
  const text = files.get(rbacPath);
  if (text === undefined) return [`${rbacPath} is missing`];
  const rbac = parseBicep(text);
  const table = builtInRoleTable(rbac);
  const wanted = [...table].find(([, id]) => verifiedBuiltInRoles[id] === roleName)?.[0];
  const found = assignmentModules(rbac).some(({ module, param }) => {
    if (param("principalId") !== `${identity}.properties.principalId`) return false;
    if (wanted === undefined || !param("roleDefinitionId").endsWith(`.${wanted})`)) return false;
    if (stringLiteral(param("scopeKind")) !== "serviceBusQueue" || !module.loop) return false;
    const loaded = loadedJsonPath(module.loop.source, rbac);
    return loaded !== undefined && resolveFrom(rbacPath, loaded.path) === queueConfigPath && loaded.member === "queues";
  });
  return found
    ? []
    : [
        `${identity} does not get ${roleName} on each queue of ${queueConfigPath} (a loop with scopeKind 'serviceBusQueue')`,
      ];
}

/** The module that deploys the app depends on the module that assigns the roles it uses at start. */
export function checkAppWaitsForRoles(mainText: string, appModulePath: string, rbacModulePath: string): string[] {
  const main = parseBicep(mainText);
  const app = main.modules.find((m) => m.target === appModulePath);
  const rbac = main.modules.find((m) => m.target === rbacModulePath);
  if (!app || !rbac) return [`main.bicep deploys no ${app ? rbacModulePath : appModulePath}`];
  const dependsOn = arrayItems(valueAt(app.body, ["dependsOn"]) ?? "");
  return dependsOn.includes(rbac.symbol)
    ? []
    : [
        `module '${app.symbol}' (${appModulePath}) does not depend on '${rbac.symbol}': the app could start before its roles exist`,
      ];
}

/**
 * Modules deployed at subscription scope share the subscription's deployment names (and a name is tied to the region
 * of its first deployment): each name must carry a value unique to the environment and its region.
 */
export function checkSubscriptionDeploymentNames(mainText: string): string[] {
  const main = parseBicep(mainText);
  if (main.targetScope !== "subscription") return [];
  const unique = [...main.vars].filter(
    ([, value]) => /uniqueString\(/.test(value) && /environmentName/.test(value) && /location/.test(value),
  );
  return main.modules
    .filter((m) => valueAt(m.body, ["scope"]) === undefined)
    .filter((m) => {
      const name = valueAt(m.body, ["name"]) ?? "";
      return !unique.some(([variable]) => name.includes(`\${${variable}}`));
    })
    .map(
      (m) =>
        `module '${m.symbol}' deploys at subscription scope as ${valueAt(m.body, ["name"])}: a second environment (or region) of the subscription would collide`,
    );
}

/** Registered by default in every subscription (Microsoft Learn, "Resource providers for Azure services"). */
export const providersRegisteredByDefault = ["Microsoft.Authorization", "Microsoft.Resources"];

/**
 * The README's provider registration names every provider the Bicep declares and every one Azure needs beyond it
 * (`alsoRequired`: Image Builder's own list, types created at run time).
 */
export function checkProviders(readmeText: string, files: SourceFiles, alsoRequired: readonly string[]): string[] {
  const line = readmeText.split("\n").find((l) => /az provider register/.test(l));
  if (line === undefined) return ["the README has no 'az provider register' command"];
  const listed = new Set([...line.matchAll(/\bMicrosoft\.[A-Za-z]+/g)].map((m) => m[0].toLowerCase()));
  const fromBicep = bicepFiles(files).flatMap(([, file]) => file.resources.map((r) => r.target.split("/")[0]!));
  const required = new Set(
    [...fromBicep, ...alsoRequired].filter(
      (p) => !providersRegisteredByDefault.some((d) => d.toLowerCase() === p.toLowerCase()),
    ),
  );
  return [...required]
    .filter((p) => !listed.has(p.toLowerCase()))
    .sort()
    .map((p) => `the README's provider registration misses ${p}`);
}

/**
 * The README's Settings table (the section `## Settings`) documents every setting the code reads, and names none that
 * it does not (a row left behind by a removed setting).
 */
export function checkReadmeSettings(readmeText: string, names: readonly string[]): string[] {
  const section = /^## Settings\n([\s\S]*?)(?=^## )/m.exec(readmeText)?.[1];
  if (section === undefined) return ["the README has no '## Settings' section"];
  const firstColumns = section
    .split("\n")
    .filter((l) => l.startsWith("| `"))
    .map((l) => l.split("|")[1]!);
  const documented = new Set(
    firstColumns.flatMap((c) => [...c.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)].map((m) => m[1]!)),
  );
  return [
    ...names
      .filter((n) => !documented.has(n))
      .map((n) => `setting ${n} (shared/config/settings.ts) is not in the README's Settings table`),
    ...[...documented]
      .filter((n) => !names.includes(n))
      .map((n) => `the README's Settings table names ${n}, which the code does not read`),
  ];
}

/** A feature of azure.yaml or main.parameters.json and the first azd version that supports it. */
export interface AzdFeature {
  what: string;
  since: string;
  used: (azureYaml: Record<string, unknown>, parametersJson: string) => boolean;
}

function versionParts(version: string): number[] {
  return version
    .split(/[.-]/)
    .slice(0, 3)
    .map((n) => Number.parseInt(n, 10) || 0);
}

function compareVersions(a: string, b: string): number {
  const [x, y] = [versionParts(a), versionParts(b)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** `requiredVersions.azd` has a lower bound no older than the first azd that supports every feature the project uses. */
export function checkRequiredAzdVersion(
  azureYaml: Record<string, unknown>,
  parametersJson: string,
  features: readonly AzdFeature[],
): string[] {
  const range = (azureYaml.requiredVersions as { azd?: unknown } | undefined)?.azd;
  const used = features.filter((f) => f.used(azureYaml, parametersJson));
  if (typeof range !== "string") {
    return used.length > 0
      ? [`azure.yaml has no requiredVersions.azd, and it relies on ${used.map((f) => f.what).join(", ")}`]
      : [];
  }
  const lower = /^>=\s*(\d+\.\d+\.\d+)/.exec(range.trim())?.[1];
  if (lower === undefined) return [`requiredVersions.azd '${range}' has no '>= x.y.z' lower bound`];
  return used
    .filter((f) => compareVersions(lower, f.since) < 0)
    .map((f) => `requiredVersions.azd '${range}' allows azd older than ${f.since}, the first with ${f.what}`);
}

/**
 * The webhook secret comes from the postprovision hook: azure.yaml runs it after provisioning, every azd value it reads
 * is an output of main.bicep (or one azd sets itself), and no secret is generated by the deployment (a Bicep
 * `newGuid()` default changes at every deployment; an azd-generated parameter is stored in plaintext under .azure/).
 */
export function checkWebhookSecretHook(
  azureYaml: Record<string, unknown>,
  hookPath: string,
  hookText: string,
  mainText: string,
  infraFiles: SourceFiles,
  azdSetVariables: readonly string[],
): string[] {
  const problems: string[] = [];
  const hook = (azureYaml.hooks as Record<string, unknown> | undefined)?.postprovision as
    { run?: string; posix?: { run?: string }; windows?: { run?: string } } | undefined;
  const runs = [hook?.run, hook?.posix?.run, hook?.windows?.run].filter((r): r is string => typeof r === "string");
  if (runs.length === 0 || !runs.every((r) => r.trim() === `node ${hookPath}`)) {
    problems.push(`azure.yaml does not run 'node ${hookPath}' as its postprovision hook on every platform`);
  }
  const outputs = new Set(parseBicep(mainText).outputs.map((o) => o.name));
  for (const match of hookText.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) {
    const name = match[1]!;
    if (!outputs.has(name) && !azdSetVariables.includes(name)) {
      problems.push(`${hookPath} reads ${name}, which main.bicep does not output`);
    }
  }
  for (const [path, text] of infraFiles) {
    if (!path.endsWith(".bicep")) continue;
    if (/newGuid\(\)/.test(text)) problems.push(`${path} uses newGuid(): a new value at every deployment`);
    if (/type:\s*'generate'/.test(text)) {
      problems.push(`${path} asks azd to generate a parameter, which azd stores in plaintext under .azure/`);
    }
  }
  return [...new Set(problems)];
}

// --- Events (Event Grid) ------------------------------------------------------------------------------------------

const topicType = "Microsoft.EventGrid/topics";
const eventSubscriptionType = "Microsoft.EventGrid/topics/eventSubscriptions";

/**
 * The events' topic: one Event Grid topic that takes CloudEvents 1.0 with local auth (keys, SAS) disabled and TLS 1.2;
 * its webhook subscription exists only when its URL parameter (default empty) is given, and delivers CloudEvents;
 * the app's identity gets EventGrid Data Sender on that topic and nowhere else, through the role-assignment module,
 * which scopes it to the topic.
 */
export function checkEventGridTopic(files: SourceFiles): string[] {
  const problems: string[] = [];
  const topics: Array<[string, BicepDeployable, BicepFile]> = [];
  const subscriptions: Array<[string, BicepDeployable, BicepFile]> = [];
  for (const [path, file] of bicepFiles(files)) {
    for (const resource of file.resources) {
      if (resource.existing) continue;
      if (resource.target === topicType) topics.push([path, resource, file]);
      if (resource.target === eventSubscriptionType) subscriptions.push([path, resource, file]);
    }
  }
  if (topics.length !== 1) problems.push(`infra/ declares ${topics.length} Event Grid topics, not one`);
  for (const [path, topic] of topics) {
    const property = (key: string) => valueAt(topic.body, ["properties", key]);
    if (property("inputSchema") !== "'CloudEventSchemaV1_0'") {
      problems.push(
        `topic '${topic.symbol}' in ${path} does not take CloudEvents 1.0 (inputSchema ${property("inputSchema") ?? "unset"})`,
      );
    }
    if (property("disableLocalAuth") !== "true") {
      problems.push(
        `topic '${topic.symbol}' in ${path} accepts access keys and SAS tokens (disableLocalAuth is not true)`,
      );
    }
    if (property("minimumTlsVersionAllowed") !== "'1.2'") {
      problems.push(`topic '${topic.symbol}' in ${path} allows TLS below 1.2`);
    }
  }
  for (const [path, subscription, file] of subscriptions) {
    const where = `event subscription '${subscription.symbol}' in ${path}`;
    const param = /^!empty\((\w+)\)$/.exec(subscription.condition ?? "")?.[1];
    const declared = file.params.find((p) => p.name === param);
    if (
      !param ||
      !declared?.hasDefault ||
      !/=\s*''/.test(file.statements.find((s) => s.keyword === "param" && s.name === param)?.code ?? "")
    ) {
      problems.push(`${where} is not conditional on a URL parameter that defaults to empty`);
    }
    if (valueAt(subscription.body, ["properties", "eventDeliverySchema"]) !== "'CloudEventSchemaV1_0'") {
      problems.push(`${where} does not deliver CloudEvents 1.0`);
    }
  }

  const rbacText = files.get(rbacPath);
  if (rbacText === undefined) return [...problems, `${rbacPath} is missing`];
  const rbac = parseBicep(rbacText);
  const senders = rbac.modules.filter((m) => /builtInRoles\.eventGridDataSender\b/.test(m.body));
  if (senders.length !== 1)
    problems.push(`${rbacPath} assigns EventGrid Data Sender ${senders.length} times, not once`);
  for (const module of senders) {
    const params = objectEntries(valueAt(module.body, ["params"]) ?? "{}");
    const param = (key: string) => params.find((e) => e.key === key)?.value;
    if (param("principalId") !== "appIdentity.properties.principalId") {
      problems.push(
        `'${module.symbol}' in ${rbacPath} gives EventGrid Data Sender to ${param("principalId")}, not the app's identity`,
      );
    }
    if (param("scopeKind") !== "'eventGridTopic'" || param("scopeName") !== "eventGridTopicName") {
      problems.push(`'${module.symbol}' in ${rbacPath} assigns EventGrid Data Sender beyond the events' topic`);
    }
  }
  const moduleText = files.get(roleAssignmentModulePath) ?? "";
  const module = parseBicep(moduleText);
  const scoped = module.resources.find(
    (r) => r.target === roleAssignmentType && r.condition === "scopeKind == 'eventGridTopic'",
  );
  const target = module.resources.find((r) => r.symbol === valueAt(scoped?.body ?? "{}", ["scope"]));
  if (!scoped || target?.target !== topicType || !target.existing) {
    problems.push(`${roleAssignmentModulePath} does not scope an 'eventGridTopic' assignment to the topic`);
  }
  return problems;
}

/** Monitoring Metrics Publisher: what telemetry ingestion with Entra ID needs on the component (checked role id). */
const monitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";

/**
 * Telemetry as shared/observability/README.md says it is deployed: Application Insights with local auth off; the app
 * settings give its connection string and `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` = `Authorization=AAD` with the
 * client id of the app's identity (the same as AZURE_CLIENT_ID), and no instrumentation key; that identity is
 * Monitoring Metrics Publisher on the component; host.json turns on the host's OpenTelemetry mode.
 */
export function checkTelemetry(files: SourceFiles, hostJsonText: string): string[] {
  const problems: string[] = [];
  const components = bicepFiles(files).flatMap(([path, file]) =>
    file.resources.filter((r) => r.target === "Microsoft.Insights/components" && !r.existing).map((r) => ({ path, r })),
  );
  if (components.length !== 1) problems.push(`expected one Application Insights component, found ${components.length}`);
  for (const { path, r } of components) {
    if (valueAt(r.body, ["properties", "DisableLocalAuth"]) !== "true") {
      problems.push(
        `Application Insights in ${path} accepts its instrumentation key alone (DisableLocalAuth is not true)`,
      );
    }
  }

  const found = appSettingEntries(files);
  if (typeof found === "string") return [...problems, found];
  const { path, file, entries } = found;
  const value = (key: string) => entries.find((e) => e.key === key)?.value;
  const insights = file.resources.find((r) => r.target === "Microsoft.Insights/components");
  if (
    !insights ||
    value("APPLICATIONINSIGHTS_CONNECTION_STRING") !== `${insights.symbol}.properties.ConnectionString`
  ) {
    problems.push(`APPLICATIONINSIGHTS_CONNECTION_STRING in ${path} is not the component's ConnectionString`);
  }
  const authentication = value("APPLICATIONINSIGHTS_AUTHENTICATION_STRING") ?? "";
  const clientId = /ClientId=\$\{([\w.]+)\}/.exec(authentication)?.[1];
  if (!/Authorization=AAD/.test(authentication)) {
    problems.push(`APPLICATIONINSIGHTS_AUTHENTICATION_STRING in ${path} does not ask for Authorization=AAD`);
  } else if (!clientId || clientId !== value("AZURE_CLIENT_ID")) {
    problems.push(
      `APPLICATIONINSIGHTS_AUTHENTICATION_STRING in ${path} names ClientId ${clientId ?? "(none)"}, not the app's identity (${value("AZURE_CLIENT_ID")})`,
    );
  }
  for (const key of ["APPINSIGHTS_INSTRUMENTATIONKEY", "APPLICATIONINSIGHTS_INSTRUMENTATIONKEY"]) {
    if (value(key) !== undefined) problems.push(`${key} is set in ${path}: ingestion must use Entra ID, not a key`);
  }

  const rbacText = files.get(rbacPath);
  if (rbacText === undefined) return [...problems, `no ${rbacPath}`];
  const rbac = parseBicep(rbacText);
  const roles = builtInRoleTable(rbac);
  const publishes = assignmentModules(rbac).some(({ param }) => {
    const roleKey = /builtInRoles\.(\w+)\)/.exec(param("roleDefinitionId"))?.[1];
    return (
      roleKey !== undefined &&
      roles.get(roleKey) === monitoringMetricsPublisher &&
      param("principalId") === "appIdentity.properties.principalId" &&
      param("scopeKind") === "'applicationInsights'"
    );
  });
  if (!publishes) {
    problems.push(
      `appIdentity is not Monitoring Metrics Publisher on the Application Insights component in ${rbacPath}`,
    );
  }

  let hostJson: { telemetryMode?: unknown };
  try {
    hostJson = JSON.parse(hostJsonText) as { telemetryMode?: unknown };
  } catch {
    return [...problems, "host.json is not JSON"];
  }
  if (String(hostJson.telemetryMode ?? "").toLowerCase() !== "opentelemetry") {
    problems.push(`host.json's telemetryMode is ${String(hostJson.telemetryMode ?? "unset")}, not OpenTelemetry`);
  }
  return problems;
}
