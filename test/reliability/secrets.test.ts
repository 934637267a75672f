import { join } from "node:path";
import { azuriteAccount } from "../../local/azurite/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { armAdmin, configureSimulation, instantSimulation, withoutThrottling } from "../../local/armAdmin.js";
import { tagNames } from "../../shared/domain/names.js";
import { signBody } from "../../shared/webhook/signature.js";
import {
  armSnapshot,
  commitOf,
  logRecords,
  pipelineSettings,
  postBuild,
  provision,
  publishTestCatalog,
  reliabilityCatalogInput,
  startChildHost,
  startEmulators,
  terminalStateOf,
  type ChildHost,
  type Emulators,
} from "./support.js";
import { eventually } from "../e2e/harness.js";

/** Recognisable fake secrets, each of a kind the pipeline handles. */
const secrets = {
  webhookSecret: "whsec-RECOGNISABLE-4e7a1c9f2b6d8035",
  previousWebhookSecret: "whsec-RECOGNISABLE-PREVIOUS-0c5b",
  sharedAccessKey: "SAK-RECOGNISABLE-qZ3x8Lm2Vn7Pw4Ks9Tb6Yd1Rf5=",
  functionKey: "fnkey-RECOGNISABLE-8d2f6a0c4e1b7395",
  clientSecret: "clsec-RECOGNISABLE-Xy7~Qw3.Er9_Tz5-Ui1",
  /** What the ARM adapter sends as its bearer token to the emulator. */
  bearerToken: "local-emulator",
};

/**
 * Secrets never reach a log line: a build runs through a child host holding a webhook secret, a connection string
 * with a key, a function key and a client secret, with refused deliveries and ARM errors along the way, and every
 * line the process writes (host records and the pipeline's JSON lines within them) is searched for each secret.
 */
describe("secrets in the logs", () => {
  let emulators: Emulators;
  let host: ChildHost | undefined;

  beforeAll(async () => {
    emulators = await startEmulators();
  });
  afterAll(async () => {
    await host?.kill("SIGKILL");
    await emulators?.stop();
  });

  it("never writes the webhook secret, connection string key, function key, client secret or bearer token", async () => {
    await configureSimulation(emulators.arm, { ...instantSimulation, ...withoutThrottling });
    const catalog = await publishTestCatalog(emulators, reliabilityCatalogInput(2, "secret"));
    await provision(emulators.arm, catalog);
    const [image, other] = catalog.images.map((i) => i.name) as [string, string];
    const connection = emulators.serviceBus.connectionString.replace(
      /SharedAccessKey=[^;]+/,
      `SharedAccessKey=${secrets.sharedAccessKey}`,
    );
    const env = pipelineSettings(emulators, {
      WEBHOOK_SECRET: secrets.webhookSecret,
      WEBHOOK_SECRET_PREVIOUS: secrets.previousWebhookSecret,
      ServiceBusConnection: connection,
      LOCAL_FUNCTION_KEY: secrets.functionKey,
      AZURE_CLIENT_SECRET: secrets.clientSecret,
    });
    host = await startChildHost(env, join(emulators.dir, "host"));
    const headers = { "x-functions-key": secrets.functionKey };

    // A signed GitHub push, built to the end.
    const push = { ref: "refs/heads/main", after: commitOf(7), pusher: { name: "octocat" } };
    const signature = signBody(JSON.stringify(push), secrets.webhookSecret);
    const delivery = {
      headers: { ...headers, "x-github-event": "push", "x-github-delivery": crypto.randomUUID() },
      query: `?image=${image}`,
    };
    const built = await postBuild(host.url, push, { secret: secrets.webhookSecret, ...delivery });
    expect(built.status).toBe(202);
    // Refused deliveries: a signature made with another secret, one over another body, none at all.
    const refused = [
      await postBuild(host.url, push, { secret: "not-the-secret", ...delivery }),
      await postBuild(
        host.url,
        { ...push, after: commitOf(8) },
        { ...delivery, headers: { ...delivery.headers, "x-hub-signature-256": signature } },
      ),
      await postBuild(host.url, push, delivery),
    ];
    expect(refused.map((r) => r.status)).toEqual([401, 401, 401]);
    // ARM errors on the way: a transient one the SDK retries, and a refusal that fails another build. Scripted once
    // the push build's template exists, so the refusal hits the other build's template, not this one's.
    await eventually(
      "the push build's template",
      async () => {
        const { resources } = await armAdmin<{ resources: { tags?: Record<string, string> }[] }>(
          emulators.arm,
          "GET",
          "resources?type=Microsoft.VirtualMachineImages/imageTemplates",
        );
        const s = await armSnapshot(emulators.arm);
        return (
          resources.some((t) => t.tags?.[tagNames.buildId] === built.body.buildId) ||
          terminalStateOf(s, built.body.buildId) !== undefined
        );
      },
      60_000,
    );
    await armAdmin(emulators.arm, "PUT", "faults", {
      scripted: [
        { operation: "GalleryImages_Get", status: 500, count: 1 },
        { operation: "VirtualMachineImageTemplates_CreateOrUpdate", status: 403, count: 1 },
      ],
    });
    const refusedBuild = await postBuild(
      host.url,
      { image: other, commit: commitOf(9) },
      {
        secret: secrets.previousWebhookSecret,
        headers,
      },
    );
    expect(refusedBuild.status).toBe(202);

    await eventually(
      "both builds to end",
      async () => {
        const s = await armSnapshot(emulators.arm);
        return terminalStateOf(s, built.body.buildId) === "promoted" && terminalStateOf(s, refusedBuild.body.buildId);
      },
      60_000,
    );
    await host.kill("SIGTERM");
    const lines = host.lines;
    host = undefined;

    const records = logRecords(lines);
    expect(records.some((r) => r.category === "function" && r.message.includes("webhook refused"))).toBe(true);
    expect(records.some((r) => r.message.includes("AuthorizationFailed"))).toBe(true);
    expect(records.at(-1)?.event).toBe("host.stopped");
    // The storage account key of the catalog's connection string (Azurite's) is searched for too.
    const searched = {
      ...secrets,
      signature: signature.slice("sha256=".length),
      storageAccountKey: azuriteAccount.key,
    };
    const leaks = Object.entries(searched).flatMap(([name, value]) =>
      lines.filter((line) => line.includes(value)).map((line) => `${name}: ${line}`),
    );
    const bearer = lines.filter((line) => /bearer\s+[\w~.-]{6,}/i.test(line));
    console.info(
      `[reliability] secrets: ${lines.length} log lines (${records.filter((r) => r.category === "function").length} ` +
        `from the pipeline) searched for ${Object.keys(searched).length} secrets: ${leaks.length + bearer.length} leaks`,
    );
    expect(leaks).toEqual([]);
    expect(bearer).toEqual([]);
  }, 180_000);
});
