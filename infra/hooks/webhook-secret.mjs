// @ts-check
/**
 * azd postprovision hook: creates the webhook secret in Key Vault when it does not exist yet, then makes the Function
 * App resolve its Key Vault references again. The value is drawn in memory and sent straight to Key Vault over
 * HTTPS: it is never a deployment parameter, an azd environment value, a command-line argument or a file. An
 * existing secret is left as it is (rotation is a deliberate step, see infra/README.md).
 *
 * Dependency-free on purpose (Node built-ins only): `azd provision` may run before `npm install`. It signs in with
 * azd's own login (`azd auth token`, the command @azure/identity's AzureDeveloperCliCredential uses).
 */
import { execFile } from "node:child_process";
import { setTimeout as delay } from "node:timers/promises";
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";

/** The Key Vault secret the app setting WEBHOOK_SECRET references (infra/core/security/keyvault.bicep). */
export const webhookSecretName = "webhook-secret";

const keyVaultApiVersion = "7.4";
const keyVaultScope = "https://vault.azure.net/.default";
const armEndpoint = "https://management.azure.com";
const armScope = `${armEndpoint}/.default`;
/** Api-version of the config references refresh endpoint, as Microsoft Learn documents it. */
const configReferencesApiVersion = "2022-03-01";

/**
 * A failure the operator can act on; its message never carries the secret.
 */
export class WebhookSecretError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "WebhookSecretError";
  }
}

/**
 * An access token from azd's login.
 * @param {string} scope
 * @param {{ tenantId?: string, exec?: (file: string, args: string[]) => Promise<string> }} [options]
 * @returns {Promise<string>}
 */
export async function azdToken(scope, options = {}) {
  const exec = options.exec ?? execText;
  const args = ["auth", "token", "--output", "json", "--scope", scope];
  if (options.tenantId) args.push("--tenant-id", options.tenantId);
  let output;
  try {
    output = await exec("azd", args);
  } catch (error) {
    throw new WebhookSecretError(
      `azd auth token failed (${/** @type {Error} */ (error).message.split("\n")[0]}); run 'azd auth login'`,
    );
  }
  const token = /** @type {{ token?: unknown }} */ (JSON.parse(output)).token;
  if (typeof token !== "string" || token === "") throw new WebhookSecretError("azd auth token returned no token");
  return token;
}

/**
 * @param {string} file
 * @param {string[]} args
 * @returns {Promise<string>}
 */
function execText(file, args) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: "utf8", windowsHide: true }, (error, stdout, stderr) =>
      error ? reject(new Error(stderr || error.message)) : resolve(stdout),
    );
  });
}

/**
 * @typedef {object} EnsureOptions
 * @property {string} vaultUri - e.g. https://kv-abc.vault.azure.net/ (output AZURE_KEY_VAULT_ENDPOINT)
 * @property {string} functionAppId - resource id of the Function App (output AZURE_FUNCTION_APP_ID)
 * @property {(scope: string) => Promise<string>} getToken
 * @property {typeof globalThis.fetch} [fetch]
 * @property {(line: string) => void} [log]
 * @property {(ms: number) => Promise<void>} [sleep]
 * @property {number} [roleWaitInMs] - how long a 403 is retried while the deployer's new role propagates
 * @property {number} [retryDelayInMs]
 */

/**
 * Creates the webhook secret unless it exists; after creating it, asks the Function App to resolve its Key Vault
 * references now rather than within 24 hours.
 * @param {EnsureOptions} options
 * @returns {Promise<"created" | "exists">}
 */
export async function ensureWebhookSecret(options) {
  const doFetch = options.fetch ?? globalThis.fetch;
  const log = options.log ?? ((line) => console.log(line));
  const sleep = options.sleep ?? ((ms) => delay(ms).then(() => undefined));
  const roleWaitInMs = options.roleWaitInMs ?? 5 * 60_000;
  const retryDelayInMs = options.retryDelayInMs ?? 15_000;
  const vault = options.vaultUri.replace(/\/?$/, "/");

  /**
   * Key Vault answers 403 until the deployer's Key Vault Secrets Officer assignment has propagated.
   * @param {string} what
   * @param {() => Promise<Response>} call
   */
  const withRoleWait = async (what, call) => {
    const deadline = Date.now() + roleWaitInMs;
    for (;;) {
      const response = await call();
      if (response.status !== 403) return response;
      if (Date.now() >= deadline) {
        throw new WebhookSecretError(
          `${what}: 403 from Key Vault after ${Math.round(roleWaitInMs / 1000)} s. The deployer needs Key Vault Secrets ` +
            `Officer on the vault (infra/app/rbac.bicep grants it to AZURE_PRINCIPAL_ID); ${await errorText(response)}`,
        );
      }
      log(`webhook secret: waiting for the Key Vault role to take effect (${what} answered 403)`);
      await sleep(retryDelayInMs);
    }
  };

  const vaultToken = await options.getToken(keyVaultScope);
  const vaultHeaders = { authorization: `Bearer ${vaultToken}` };

  // Listing returns ids and attributes only: the current value is never read.
  let next = `${vault}secrets?api-version=${keyVaultApiVersion}&maxresults=25`;
  while (next) {
    const url = next;
    const page = await withRoleWait("listing secrets", () => doFetch(url, { headers: vaultHeaders }));
    if (!page.ok) throw new WebhookSecretError(`listing secrets failed: ${await errorText(page)}`);
    const body = /** @type {{ value?: Array<{ id?: string }>, nextLink?: string | null }} */ (await page.json());
    if ((body.value ?? []).some((item) => item.id?.replace(/\/$/, "").endsWith(`/secrets/${webhookSecretName}`))) {
      log(`webhook secret: '${webhookSecretName}' exists in ${vault}, left as it is`);
      return "exists";
    }
    next = body.nextLink ?? "";
  }

  const put = await withRoleWait("creating the secret", () =>
    doFetch(`${vault}secrets/${webhookSecretName}?api-version=${keyVaultApiVersion}`, {
      method: "PUT",
      headers: { ...vaultHeaders, "content-type": "application/json" },
      body: JSON.stringify({ value: randomBytes(32).toString("hex"), contentType: "text/plain" }),
    }),
  );
  if (put.status === 409) {
    throw new WebhookSecretError(
      `'${webhookSecretName}' is deleted but recoverable in the vault (soft delete): recover it ` +
        `(az keyvault secret recover) or purge it (az keyvault secret purge), then run azd provision again; ` +
        (await errorText(put)),
    );
  }
  if (!put.ok) throw new WebhookSecretError(`creating the secret failed: ${await errorText(put)}`);
  log(`webhook secret: created '${webhookSecretName}' in ${vault}`);

  const armToken = await options.getToken(armScope);
  const refresh = await doFetch(
    `${armEndpoint}${options.functionAppId}/config/configreferences/appsettings/refresh?api-version=${configReferencesApiVersion}`,
    { method: "POST", headers: { authorization: `Bearer ${armToken}` } },
  );
  if (refresh.ok) {
    log("webhook secret: the Function App resolves its Key Vault references again");
  } else {
    // The secret exists either way; without the refresh the app picks it up within 24 hours or at its next restart.
    log(
      `webhook secret: could not refresh the app's Key Vault references (${await errorText(refresh)}); restart the app`,
    );
  }
  return "created";
}

/**
 * Status and Azure's error code and message, never a request or response value.
 * @param {Response} response
 */
async function errorText(response) {
  let detail = "";
  try {
    const body = /** @type {{ error?: { code?: string, message?: string } }} */ (await response.json());
    if (body.error) detail = ` ${body.error.code ?? ""}: ${body.error.message ?? ""}`;
  } catch {
    // no JSON body
  }
  return `HTTP ${response.status}${detail}`;
}

/**
 * The hook as azd runs it, from the azd environment (outputs of infra/main.bicep).
 * @param {Record<string, string | undefined>} env
 */
export async function main(env) {
  const vaultUri = env.AZURE_KEY_VAULT_ENDPOINT;
  const functionAppId = env.AZURE_FUNCTION_APP_ID;
  if (!vaultUri || !functionAppId) {
    throw new WebhookSecretError("AZURE_KEY_VAULT_ENDPOINT and AZURE_FUNCTION_APP_ID must be set (run azd provision)");
  }
  const tenantId = env.AZURE_TENANT_ID;
  await ensureWebhookSecret({
    vaultUri,
    functionAppId,
    getToken: (scope) => azdToken(scope, tenantId ? { tenantId } : {}),
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.env).catch((error) => {
    console.error(`webhook secret: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
