import { request } from "node:https";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { fastConfig, poll, restErrorOf, startHarness, subscriptionId, type Harness } from "./helpers.js";

/**
 * ARM-level rules of local/arm/README.md ("Rules"): resource groups, throttling, identities, role assignments. The
 * test name gives the rule id and its source.
 */

const sub = `/subscriptions/${subscriptionId}`;

describe("the ARM emulator's resource groups, throttling, identities and role assignments", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.stop());
  beforeEach(async () => {
    await h.admin("POST", "reset");
    await h.admin("PUT", "config", fastConfig);
  });

  it("[A1] refuses writes under a resource group that does not exist: 404 ResourceGroupNotFound (Azure/azure-powershell#9911)", async () => {
    const gallery = await restErrorOf(() =>
      h.compute.galleries.createOrUpdate("rg-missing", "gal", { location: "westeurope" }, poll),
    );
    expect([gallery.statusCode, gallery.code]).toEqual([404, "ResourceGroupNotFound"]);
    expect(gallery.message).toBe("Resource group 'rg-missing' could not be found.");
    const identity = await h.raw(
      "PUT",
      `${sub}/resourceGroups/rg-missing/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id?api-version=2023-01-31`,
      { token: "t", body: { location: "westeurope" } },
    );
    expect([identity.status, (identity.body as { error: { code: string } }).error.code]).toEqual([
      404,
      "ResourceGroupNotFound",
    ]);
  });

  // The SDK clients always send a bearer token and their own api-version: these two go without them.
  it("[A6] answers a request without a bearer token with 401 AuthenticationFailed, a non-bearer one with AuthenticationFailedInvalidHeader (ARM)", async () => {
    const path = `${sub}/resourcegroups/rg?api-version=2022-09-01`;
    const none = await h.raw("GET", path);
    expect([none.status, (none.body as { error: { code: string } }).error.code]).toEqual([401, "AuthenticationFailed"]);
    expect(none.headers["www-authenticate"]).toMatch(/^Bearer /);
    const basic = await new Promise<{ status: number; code: string }>((resolve, reject) => {
      const req = request(
        new URL(path, h.emulator.endpoint),
        { ca: h.emulator.caCertPem, headers: { authorization: "Basic eA==" } },
        (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              code: (JSON.parse(text) as { error: { code: string } }).error.code,
            }),
          );
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(basic).toEqual({ status: 401, code: "AuthenticationFailedInvalidHeader" });
  });

  it("[A7] refuses a request without api-version or with one the operation does not have: 400 MissingApiVersionParameter / NoRegisteredProviderFound (ARM)", async () => {
    await h.resourceGroup("rg", "westeurope");
    const path = `${sub}/resourceGroups/rg/providers/Microsoft.Compute/galleries/gal`;
    const missing = await h.raw("GET", path, { token: "t" });
    expect([missing.status, (missing.body as { error: { code: string } }).error.code]).toEqual([
      400,
      "MissingApiVersionParameter",
    ]);
    const unknown = await h.raw("GET", `${path}?api-version=1999-01-01`, { token: "t" });
    expect([unknown.status, (unknown.body as { error: { code: string } }).error.code]).toEqual([
      400,
      "NoRegisteredProviderFound",
    ]);
  });

  it("[A2] answers reads, lists and deletes under a missing resource group with 404 ResourceGroupNotFound (Azure/azure-powershell#9911)", async () => {
    const read = await restErrorOf(() => h.compute.galleries.get("rg-missing", "gal"));
    expect([read.statusCode, read.code]).toEqual([404, "ResourceGroupNotFound"]);
    const list = await restErrorOf(() => h.compute.galleries.listByResourceGroup("rg-missing").next());
    expect([list.statusCode, list.code]).toEqual([404, "ResourceGroupNotFound"]);
    const deletion = await restErrorOf(() =>
      h.imageBuilder.virtualMachineImageTemplates.delete("rg-missing", "t", poll),
    );
    expect([deletion.statusCode, deletion.code]).toEqual([404, "ResourceGroupNotFound"]);
    await h.resourceGroup("rg-present");
    const missingResource = await restErrorOf(() => h.compute.galleries.get("rg-present", "gal"));
    expect([missingResource.statusCode, missingResource.code]).toEqual([404, "ResourceNotFound"]);
  });

  it("[A2] creates a missing group on first use only with the implicitResourceGroups option", async () => {
    await h.admin("PUT", "config", { implicitResourceGroups: true });
    const gallery = await h.compute.galleries.createOrUpdate("rg-implicit", "gal", { location: "westeurope" }, poll);
    expect(gallery.provisioningState).toBe("Succeeded");
  });

  it("[A3] refuses a resource group without location: 400 LocationRequired (ARM)", async () => {
    const response = await h.raw("PUT", `${sub}/resourcegroups/rg?api-version=2022-09-01`, { token: "t", body: {} });
    expect([response.status, (response.body as { error: { code: string } }).error.code]).toEqual([
      400,
      "LocationRequired",
    ]);
  });

  it("[A4] deletes a resource group with what it holds: 202, a Location under /operationresults that answers 202 then 200 (test_image_builder_template_validator recording)", async () => {
    await h.admin("PUT", "config", { deleteDurationInMs: 60_000 });
    await h.resourceGroup("rg-doomed");
    await h.compute.galleries.createOrUpdate("rg-doomed", "gal", { location: "westeurope" }, poll);
    const deletion = await h.raw("DELETE", `${sub}/resourcegroups/rg-doomed?api-version=2022-09-01`, { token: "t" });
    expect(deletion.status).toBe(202);
    const location = deletion.headers["location"]!;
    expect(location).toMatch(new RegExp(`^${h.emulator.endpoint}${sub}/operationresults/`));
    const monitor = location.slice(h.emulator.endpoint.length);
    expect((await h.raw("GET", monitor, { token: "t" })).status).toBe(202);
    const gallery = await restErrorOf(() => h.compute.galleries.get("rg-doomed", "gal"));
    expect(gallery.code).toBe("ResourceNotFound");
    const write = await restErrorOf(() =>
      h.compute.galleries.createOrUpdate("rg-doomed", "again", { location: "westeurope" }, poll),
    );
    expect([write.statusCode, write.code]).toEqual([409, "ResourceGroupBeingDeleted"]);
    await h.admin("POST", "clock", { advanceByMs: 60_000 });
    expect((await h.raw("GET", monitor, { token: "t" })).status).toBe(200);
    const group = await h.raw("GET", `${sub}/resourcegroups/rg-doomed?api-version=2022-09-01`, { token: "t" });
    expect(group.status).toBe(404);
  });

  it("[A5] throttles with ARM's subscription buckets by default and reports the remaining regional and global tokens (request-limits-and-throttling.md)", async () => {
    await h.admin("POST", "reset");
    const config = await h.admin<{ throttling: Record<string, unknown> }>("GET", "config");
    expect(config.throttling).toMatchObject({
      enabled: true,
      reads: { burst: 250, perSecond: 25 },
      writes: { burst: 200, perSecond: 10 },
      deletes: { burst: 200, perSecond: 10 },
      global: { reads: { burst: 3750 }, writes: { burst: 3000 }, deletes: { burst: 3000 } },
    });
    await h.resourceGroup("rg-limits");
    const first = await h.raw("GET", `${sub}/resourcegroups/rg-limits?api-version=2022-09-01`, { token: "t" });
    expect(first.headers["x-ms-ratelimit-remaining-subscription-reads"]).toBe("249");
    expect(first.headers["x-ms-ratelimit-remaining-subscription-global-reads"]).toBe("3749");
    // An almost empty bucket that refills slowly makes the refusal independent of how fast this machine is.
    await h.admin("PUT", "throttling", { reads: { burst: 3, perSecond: 0.01 } });
    const statuses: number[] = [];
    let refused: Awaited<ReturnType<Harness["raw"]>> | undefined;
    for (let i = 0; i < 4; i++) {
      const r = await h.raw("GET", `${sub}/resourcegroups/rg-limits?api-version=2022-09-01`, { token: "t" });
      statuses.push(r.status);
      if (r.status === 429) refused = r;
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(refused?.body).toMatchObject({ error: { code: "SubscriptionRequestsThrottled" } });
    expect(refused?.headers["retry-after"]).toMatch(/^[1-9]\d*$/);
  });

  it("[M1] serves user-assigned identities: PUT 201 then 200 with principal and client ids, GET, 404 when missing (test_image_build_shared_image recording)", async () => {
    await h.resourceGroup("rg-id");
    const path = `${sub}/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/builder?api-version=2023-01-31`;
    const created = await h.raw("PUT", path, { token: "t", body: { location: "westeurope" } });
    expect(created.status).toBe(201);
    expect(created.headers["location"]).toBe(
      `${sub}/resourcegroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/builder`,
    );
    const body = created.body as { properties: Record<string, string>; type: string };
    expect(body.type).toBe("Microsoft.ManagedIdentity/userAssignedIdentities");
    expect(Object.keys(body.properties).sort()).toEqual(["clientId", "principalId", "tenantId"]);
    const again = await h.raw("PUT", path, { token: "t", body: { location: "westeurope" } });
    expect(again.status).toBe(200);
    expect((again.body as { properties: Record<string, string> }).properties["principalId"]).toBe(
      body.properties["principalId"],
    );
    expect((await h.raw("DELETE", path, { token: "t" })).status).toBe(200);
    const gone = await h.raw("GET", path, { token: "t" });
    expect([gone.status, (gone.body as { error: { code: string } }).error.code]).toEqual([404, "ResourceNotFound"]);
  });

  it("[M2] serves role assignments at a resource group or resource scope: PUT 201 with the scope, GET, DELETE (test_image_builder_template_validator recording)", async () => {
    await h.resourceGroup("rg-roles");
    const path = `${sub}/resourceGroups/rg-roles/providers/Microsoft.Authorization/roleAssignments/88888888-0000-0000-0000-000000000001?api-version=2022-04-01`;
    const roleDefinitionId = `${sub}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c`;
    const created = await h.raw("PUT", path, {
      token: "t",
      body: { properties: { roleDefinitionId, principalId: "p-1", principalType: "ServicePrincipal" } },
    });
    expect(created.status).toBe(201);
    expect((created.body as { properties: Record<string, unknown> }).properties).toMatchObject({
      roleDefinitionId,
      principalId: "p-1",
      scope: `${sub}/resourceGroups/rg-roles`,
    });
    expect((await h.raw("GET", path, { token: "t" })).status).toBe(200);
    expect((await h.raw("DELETE", path, { token: "t" })).status).toBe(200);
    expect((await h.raw("GET", path, { token: "t" })).status).toBe(404);
  });
});
