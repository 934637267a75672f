import type { RestError } from "@azure/core-rest-pipeline";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { fastConfig, poll, restErrorOf, startHarness, subscriptionId, type Harness } from "./helpers.js";

/**
 * Rules RG1-RG8 of local/arm/README.md: Azure Resource Graph's query endpoint, through the real
 * `@azure/arm-resourcegraph` client (its retries off, so each answer is read as given). The test name gives the rule
 * id and its source.
 */

const otherSubscription = "99999999-8888-7777-6666-555555555555";
const definitionId = `/subscriptions/${subscriptionId}/resourceGroups/rg-gallery/providers/Microsoft.Compute/galleries/gal/images/ubuntu`;
const vmsQuery =
  "Resources | where type =~ 'microsoft.compute/virtualmachines' | project id, name, image = tostring(properties.storageProfile.imageReference.id)";

interface Detail {
  code: string;
  message: string;
  additionalProperties?: Record<string, unknown>;
}

/** The error body Resource Graph answered, as the SDK deserializes it onto the RestError (`details`). */
function errorBody(error: RestError): { code: string; message: string; details: Detail[] } {
  return (error.details as { error: { code: string; message: string; details: Detail[] } }).error;
}

describe("the ARM emulator's Resource Graph", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.stop());
  beforeEach(async () => {
    await h.admin("POST", "reset");
    await h.admin("PUT", "config", fastConfig);
    await h.admin("POST", "seed", {
      subscriptionId,
      resourceGroups: [
        { name: "rg-fleet", location: "westeurope" },
        { name: "rg-gallery", location: "westeurope" },
      ],
      galleries: [{ resourceGroup: "rg-gallery", name: "gal", location: "westeurope" }],
      imageDefinitions: [
        {
          resourceGroup: "rg-gallery",
          gallery: "gal",
          name: "ubuntu",
          properties: { osType: "Linux", osState: "Generalized", identifier: { publisher: "p", offer: "o", sku: "s" } },
        },
      ],
      imageVersions: [
        {
          resourceGroup: "rg-gallery",
          gallery: "gal",
          imageDefinition: "ubuntu",
          name: "1.0.0",
          properties: { publishingProfile: { targetRegions: [{ name: "westeurope" }] } },
        },
      ],
    });
  });

  const createVms = async (count: number) => {
    for (let i = 0; i < count; i++) {
      await h.compute.virtualMachines.createOrUpdate(
        "rg-fleet",
        `vm${String(i).padStart(3, "0")}`,
        { location: "westeurope", storageProfile: { imageReference: { id: definitionId } } },
        poll,
      );
    }
  };

  it("[RG1] answers a query with totalRecords, count, resultTruncated and the rows as objects (REST spec 2024-04-01, QueryResponse)", async () => {
    await createVms(2);
    const answer = await h.resourceGraph.resources({ subscriptions: [subscriptionId], query: vmsQuery });
    expect(answer.totalRecords).toBe(2);
    expect(answer.count).toBe(2);
    expect(answer.resultTruncated).toBe("false");
    expect(answer.skipToken).toBeUndefined();
    expect(answer.data).toEqual([
      { id: expect.stringMatching(/virtualMachines\/vm000$/), name: "vm000", image: definitionId },
      { id: expect.stringMatching(/virtualMachines\/vm001$/), name: "vm001", image: definitionId },
    ]);
    const table = await h.resourceGraph.resources({
      subscriptions: [subscriptionId],
      query: vmsQuery,
      options: { resultFormat: "table" },
    });
    const data = table.data as { columns: { name: string; type: string }[]; rows: unknown[][] };
    expect(data.columns).toEqual([
      { name: "id", type: "string" },
      { name: "name", type: "string" },
      { name: "image", type: "string" },
    ]);
    expect(data.rows.map((r) => r[1])).toEqual(["vm000", "vm001"]);
  });

  it("[RG2] keeps VMs and scale sets in Resources, Uniform instances in ComputeResources, subscriptions and groups in ResourceContainers (Learn, supported tables; Uniform sample)", async () => {
    await createVms(1);
    await h.compute.virtualMachineScaleSets.createOrUpdate(
      "rg-fleet",
      "vmss",
      {
        location: "westeurope",
        sku: { capacity: 2 },
        virtualMachineProfile: { storageProfile: { imageReference: { id: definitionId } } },
      },
      poll,
    );
    const types = async (table: string) =>
      (
        (
          await h.resourceGraph.resources({
            subscriptions: [subscriptionId],
            query: `${table} | where type contains 'microsoft.compute/virtual' or type contains 'microsoft.resources/' | project id, type, resourceGroup, exactVersion = tostring(properties.storageProfile.imageReference.exactVersion)`,
          })
        ).data as { type: string; resourceGroup: string; exactVersion: string }[]
      ).map((r) => [r.type, r.resourceGroup, r.exactVersion]);
    expect(await types("Resources")).toEqual([
      ["microsoft.compute/virtualmachinescalesets", "rg-fleet", ""],
      ["microsoft.compute/virtualmachines", "rg-fleet", "1.0.0"],
    ]);
    expect(await types("ComputeResources")).toEqual([
      ["microsoft.compute/virtualmachinescalesets/virtualmachines", "rg-fleet", "1.0.0"],
      ["microsoft.compute/virtualmachinescalesets/virtualmachines", "rg-fleet", "1.0.0"],
    ]);
    expect(await types("resourcecontainers")).toEqual([
      ["microsoft.resources/subscriptions", "", ""],
      ["microsoft.resources/subscriptions/resourcegroups", "rg-fleet", ""],
      ["microsoft.resources/subscriptions/resourcegroups", "rg-gallery", ""],
    ]);
  });

  it("[RG3] pages 100 rows by default and up to $top (at most 1000) with $skipToken while id is projected; without id, cuts the result (Learn, working with large data sets)", async () => {
    await createVms(7);
    const first = await h.resourceGraph.resources({
      subscriptions: [subscriptionId],
      query: vmsQuery,
      options: { top: 3 },
    });
    expect([first.totalRecords, first.count, first.resultTruncated]).toEqual([7, 3, "false"]);
    expect(first.skipToken).toEqual(expect.any(String));
    const names: string[] = (first.data as { name: string }[]).map((r) => r.name);
    let token = first.skipToken;
    while (token) {
      const next = await h.resourceGraph.resources({
        subscriptions: [subscriptionId],
        query: vmsQuery,
        options: { skipToken: token },
      });
      names.push(...(next.data as { name: string }[]).map((r) => r.name));
      token = next.skipToken;
    }
    expect(names).toEqual(["vm000", "vm001", "vm002", "vm003", "vm004", "vm005", "vm006"]);
    const withoutId = await h.resourceGraph.resources({
      subscriptions: [subscriptionId],
      query: "Resources | where type =~ 'microsoft.compute/virtualmachines' | project name",
      options: { top: 3 },
    });
    expect([withoutId.count, withoutId.resultTruncated, withoutId.skipToken]).toEqual([3, "true", undefined]);
    const otherQuery = await restErrorOf(() =>
      h.resourceGraph.resources({
        subscriptions: [subscriptionId],
        query: "Resources | project id",
        options: { skipToken: first.skipToken },
      }),
    );
    expect(otherQuery.statusCode).toBe(400);
  });

  it("[RG4] refuses what its KQL subset does not run with BadRequest, InvalidQuery and the token (Azure/azure-powershell#13762; scautomation/AzureResourceGraph-Examples#2)", async () => {
    const unsupported = await restErrorOf(() =>
      h.resourceGraph.resources({
        subscriptions: [subscriptionId],
        query: "Resources | parse id with * '/providers/' provider",
      }),
    );
    expect([unsupported.statusCode, unsupported.code]).toEqual([400, "BadRequest"]);
    const body = errorBody(unsupported);
    expect(body.message).toMatch(
      /^Please provide below info when asking for support: timestamp = .+, correlationId = [0-9a-f-]{36}\.$/,
    );
    expect(body.details[0]).toMatchObject({
      code: "InvalidQuery",
      message:
        "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying.",
    });
    expect(body.details[1]).toMatchObject({ code: "InvalidQueryLanguage", additionalProperties: { token: "parse" } });
    const malformed = await restErrorOf(() =>
      h.resourceGraph.resources({ subscriptions: [subscriptionId], query: "Resources | where (type == 'x'" }),
    );
    expect(errorBody(malformed).details[1]).toMatchObject({
      code: "ParserFailure",
      additionalProperties: { token: "<EOF>" },
    });
    for (const query of [
      "Resources | summarize count() by type",
      "Resources | where name matches regex 'a'",
      "Secrets",
    ]) {
      const refused = await restErrorOf(() => h.resourceGraph.resources({ subscriptions: [subscriptionId], query }));
      expect([refused.statusCode, errorBody(refused).details[0]!.code], query).toEqual([400, "InvalidQuery"]);
    }
  });

  it("[RG5] refuses $top outside 1..1000 (REST spec, QueryRequestOptions)", async () => {
    const error = await restErrorOf(() =>
      h.resourceGraph.resources({ subscriptions: [subscriptionId], query: vmsQuery, options: { top: 1001 } }),
    );
    expect([error.statusCode, error.code]).toEqual([400, "BadRequest"]);
  });

  it("[RG6] reports the caller's quota on every answer and throttles past it with 429 RateLimiting (Learn, throttled requests; Azure/azure-cli-extensions#3325)", async () => {
    await h.admin("PUT", "config", {
      resourceGraph: { quota: { enabled: true, queriesPerWindow: 3, windowInMs: 60_000 } },
    });
    const seen: { remaining: string | undefined; resetsAfter: string | undefined }[] = [];
    const onResponse = (response: { headers: { get(name: string): string | undefined } }) =>
      seen.push({
        remaining: response.headers.get("x-ms-user-quota-remaining"),
        resetsAfter: response.headers.get("x-ms-user-quota-resets-after"),
      });
    for (let i = 0; i < 3; i++) {
      await h.resourceGraph.resources({ subscriptions: [subscriptionId], query: vmsQuery }, { onResponse });
    }
    expect(seen.map((s) => s.remaining)).toEqual(["2", "1", "0"]);
    expect(seen[0]!.resetsAfter).toMatch(/^00:01:00$|^00:00:5\d$/);
    const throttled = await restErrorOf(() =>
      h.resourceGraph.resources({ subscriptions: [subscriptionId], query: vmsQuery }),
    );
    expect([throttled.statusCode, throttled.code]).toEqual([429, "RateLimiting"]);
    expect(errorBody(throttled).details[0]!.message).toMatch(/^Client application has been throttled/);
    expect(throttled.response!.headers.get("x-ms-user-quota-remaining")).toBe("0");
    expect(throttled.response!.headers.get("x-ms-user-quota-resets-after")).toMatch(/^00:0[01]:\d\d$/);
  });

  it("[RG7] leaves out subscriptions the caller cannot read without a sign, and answers 403 AccessDenied when it can read none (Learn, Resource Graph permissions; Azure/azure-sdk-for-java#29924)", async () => {
    await createVms(1);
    await h.admin("PUT", "config", { resourceGraph: { deniedSubscriptions: [subscriptionId] } });
    const partial = await h.resourceGraph.resources({
      subscriptions: [subscriptionId, otherSubscription],
      query: vmsQuery,
    });
    expect([partial.totalRecords, partial.resultTruncated]).toEqual([0, "false"]);
    const denied = await restErrorOf(() =>
      h.resourceGraph.resources({ subscriptions: [subscriptionId], query: vmsQuery }),
    );
    expect([denied.statusCode, denied.code]).toEqual([403, "AccessDenied"]);
    expect(errorBody(denied).details[0]!.message).toBe(
      "Access is denied to the requested resource. The user might not have enough permission.",
    );
  });

  it("[RG8] counts its queries on their own, outside ARM's subscription buckets (Learn, Resource Graph throttling)", async () => {
    await h.admin("PUT", "throttling", { enabled: true, writes: { burst: 1, perSecond: 0.001 } });
    await h.admin("POST", "counters/reset");
    for (let i = 0; i < 3; i++) await h.resourceGraph.resources({ subscriptions: [subscriptionId], query: vmsQuery });
    const counters = await h.admin<{ operations: Record<string, number>; throttled: number }>("GET", "counters");
    expect(counters.operations["ResourceGraph_Resources"]).toBe(3);
    expect(counters.throttled).toBe(0);
  });
});
