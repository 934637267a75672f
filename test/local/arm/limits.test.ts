import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ComputeManagementClient } from "@azure/arm-compute";
import {
  fastConfig,
  poll,
  restErrorOf,
  startHarness,
  stubCredential,
  subscriptionId,
  type Harness,
} from "./helpers.js";

const rg = "rg-limits";
const galleryPath = `/subscriptions/${subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/galleries/gal?api-version=2025-12-03`;

describe("the ARM emulator's authentication, throttling, faults and counters", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h.stop());
  beforeEach(async () => {
    await h.admin("POST", "reset");
    await h.admin("PUT", "config", fastConfig);
    await h.resourceGroup(rg);
    await h.compute.galleries.createOrUpdate(rg, "gal", { location: "westeurope" }, poll);
  });

  it("answers a request without a bearer token with 401 AuthenticationFailed and a WWW-Authenticate challenge", async () => {
    const response = await h.raw("GET", galleryPath);
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ error: { code: "AuthenticationFailed" } });
    expect(response.headers["www-authenticate"]).toMatch(/^Bearer authorization_uri=/);
    expect((await h.raw("GET", galleryPath, { token: "anything" })).status).toBe(200);
  });

  it("throttles a burst of 400 reads with ARM's default bucket: 429 with Retry-After and remaining-reads headers", async () => {
    // ARM's burst of 250 with no refill, so how fast the requests arrive (a loaded machine) changes nothing.
    await h.admin("PUT", "throttling", { enabled: true, reads: { burst: 250, perSecond: 0 } });
    // In bursts of 50 connections at a time (a loaded machine resets some of 400 concurrent TLS handshakes).
    const responses = [];
    for (let burst = 0; burst < 8; burst++) {
      responses.push(
        ...(await Promise.all(Array.from({ length: 50 }, () => h.raw("GET", galleryPath, { token: "t" })))),
      );
    }
    const throttled = responses.filter((r) => r.status === 429);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(250);
    expect(throttled).toHaveLength(150);
    expect(throttled[0]?.headers["retry-after"]).toMatch(/^[1-9]\d*$/);
    expect(throttled[0]?.body).toMatchObject({ error: { code: "SubscriptionRequestsThrottled" } });
    expect(responses.every((r) => r.headers["x-ms-ratelimit-remaining-subscription-reads"] !== undefined)).toBe(true);
    const counters = await h.admin<{ throttled: number }>("GET", "counters");
    expect(counters.throttled).toBe(throttled.length);
  });

  it("lets the SDK's retry policy get a burst of reads through the throttling", async () => {
    // A bucket of 25 that refills fully within the 1 s Retry-After, emptied first: 100 reads meet an empty bucket and
    // go through in about four Retry-After rounds whether they arrive together (fast machine) or spread (busy one),
    // well within the 10 retries. A small bucket with a fast refill would cap each round at the bucket's size.
    await h.admin("PUT", "throttling", { enabled: true, reads: { burst: 25, perSecond: 25 } });
    await Promise.all(Array.from({ length: 30 }, () => h.raw("GET", galleryPath, { token: "t" })));
    await h.admin("POST", "counters/reset");
    const patient = new ComputeManagementClient(stubCredential, subscriptionId, {
      endpoint: h.emulator.endpoint,
      tlsOptions: { ca: h.emulator.caCertPem },
      retryOptions: { maxRetries: 10 },
    });
    const galleries = await Promise.all(Array.from({ length: 100 }, () => patient.galleries.get(rg, "gal")));
    expect(galleries.every((g) => g.name === "gal")).toBe(true);
    const counters = await h.admin<{ throttled: number; operations: Record<string, number> }>("GET", "counters");
    expect(counters.throttled).toBeGreaterThan(0);
    expect(counters.operations["Galleries_Get"]).toBe(100 + counters.throttled);
  });

  it("injects scripted 500s that surface as RestError, and 503s with Retry-After that the SDK retries", async () => {
    const noRetry = new ComputeManagementClient(stubCredential, subscriptionId, {
      endpoint: h.emulator.endpoint,
      tlsOptions: { ca: h.emulator.caCertPem },
      retryOptions: { maxRetries: 0 },
    });
    await h.admin("PUT", "faults", { scripted: [{ operation: "Galleries_Get", status: 500, count: 1 }] });
    const error = await restErrorOf(() => noRetry.galleries.get(rg, "gal"));
    expect([error.statusCode, error.code]).toEqual([500, "InternalServerError"]);
    expect((await noRetry.galleries.get(rg, "gal")).name).toBe("gal");

    await h.admin("PUT", "faults", { scripted: [{ operation: "Galleries_Get", status: 503, count: 1 }] });
    expect((await h.compute.galleries.get(rg, "gal")).name).toBe("gal");
    const counters = await h.admin<{ faulted: number }>("GET", "counters");
    expect(counters.faulted).toBe(2);
  });

  it("injects errors at a configured rate only for the chosen operations", async () => {
    await h.admin("PUT", "faults", { rates: { "500": 1 }, operations: ["GalleryImages_Get"] });
    expect((await h.compute.galleries.get(rg, "gal")).name).toBe("gal");
    const noRetry = new ComputeManagementClient(stubCredential, subscriptionId, {
      endpoint: h.emulator.endpoint,
      tlsOptions: { ca: h.emulator.caCertPem },
      retryOptions: { maxRetries: 0 },
    });
    const error = await restErrorOf(() => noRetry.galleryImages.get(rg, "gal", "anything"));
    expect([error.statusCode, error.code]).toEqual([500, "InternalServerError"]);
    await h.admin("PUT", "faults", { rates: { "500": 0 }, operations: [] });
  });

  it("counts requests by operation and in reads, writes and deletes, but not admin calls", async () => {
    await h.admin("POST", "counters/reset");
    await h.compute.galleries.get(rg, "gal");
    await h.compute.galleries.createOrUpdate(rg, "gal2", { location: "westeurope" }, poll);
    await h.compute.galleries.delete(rg, "gal2", poll);
    await h.admin("GET", "resources");
    const counters = await h.admin<{
      operations: Record<string, number>;
      reads: number;
      writes: number;
      deletes: number;
    }>("GET", "counters");
    expect(counters.operations).toMatchObject({ Galleries_Get: 2, Galleries_CreateOrUpdate: 1, Galleries_Delete: 1 });
    expect(counters.writes).toBe(1);
    expect(counters.deletes).toBe(1);
    expect(counters.reads).toBe(2 + (counters.operations["ComputeOperationStatus_Get"] ?? 0));
  });

  it("rejects an unknown api-version and a missing one", async () => {
    const unknown = await h.raw("GET", galleryPath.replace("2025-12-03", "1999-01-01"), { token: "t" });
    expect([unknown.status, (unknown.body as { error: { code: string } }).error.code]).toEqual([
      400,
      "NoRegisteredProviderFound",
    ]);
    const missing = await h.raw("GET", galleryPath.replace("?api-version=2025-12-03", ""), { token: "t" });
    expect([missing.status, (missing.body as { error: { code: string } }).error.code]).toEqual([
      400,
      "MissingApiVersionParameter",
    ]);
  });
});
