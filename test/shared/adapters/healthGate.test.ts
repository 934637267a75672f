import { mkdtempSync, rmSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadOrCreateCertificate } from "../../../local/arm/cert.js";
import { HttpsHealthGate, networksOf, refusalOf } from "../../../shared/adapters/healthGate.js";
import type { HealthCheckRequest } from "../../../shared/ports.js";

/** A health endpoint on loopback (HTTPS, a self-signed certificate), answering what each test scripts. */
describe("the HTTPS health gate", () => {
  let server: Server;
  let stateDir: string;
  let ca: string;
  let port: number;
  let requests: { url: string; headers: Record<string, unknown> }[];
  let answer: (res: ServerResponse) => void;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "health-gate-"));
    const cert = await loadOrCreateCertificate(stateDir);
    ca = cert.certPem;
    server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      requests.push({ url: req.url ?? "", headers: req.headers });
      answer(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(stateDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    requests = [];
    answer = (res) => res.writeHead(200).end("ok");
  });

  const check = (url: string, timeoutInMs = 5000): HealthCheckRequest => ({
    url,
    timeoutInMs,
    image: "ubuntu-2404",
    version: "1.0.4",
    wave: 2,
    regions: ["northeurope", "eastus2"],
  });
  const loopbackGate = () => new HttpsHealthGate({ allowedNetworks: ["127.0.0.1/32"], ca });

  it("is healthy on a 2xx answer, and tells the endpoint what the next wave is, without credentials", async () => {
    const result = await loopbackGate().check(check(`https://127.0.0.1:${port}/health?team=ops`));
    expect(result).toEqual({ healthy: true, detail: "answered 200" });
    expect(requests).toHaveLength(1);
    const url = new URL(requests[0]!.url, "https://x");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      team: "ops",
      image: "ubuntu-2404",
      version: "1.0.4",
      wave: "2",
      regions: "northeurope,eastus2",
    });
    expect(requests[0]!.headers).not.toHaveProperty("authorization");
    expect(requests[0]!.headers).not.toHaveProperty("cookie");
  });

  it("is unhealthy on a 5xx, and on a redirect, which it does not follow", async () => {
    answer = (res) => res.writeHead(503).end();
    expect(await loopbackGate().check(check(`https://127.0.0.1:${port}/`))).toEqual({
      healthy: false,
      detail: "answered 503",
    });
    answer = (res) => res.writeHead(302, { location: "https://169.254.169.254/metadata" }).end();
    expect(await loopbackGate().check(check(`https://127.0.0.1:${port}/`))).toEqual({
      healthy: false,
      detail: "answered 302 (redirects are not followed)",
    });
    expect(requests).toHaveLength(2);
  });

  it("gives up after its timeout when the endpoint does not answer", async () => {
    answer = () => {};
    const result = await loopbackGate().check(check(`https://127.0.0.1:${port}/slow`, 300));
    expect(result).toEqual({ healthy: false, detail: "no answer within 0.3 s" });
  });

  it("refuses loopback unless allowed, by address or by a name that resolves there, without connecting", async () => {
    const gate = new HttpsHealthGate({ ca });
    expect(await gate.check(check(`https://127.0.0.1:${port}/`))).toMatchObject({
      healthy: false,
      detail: expect.stringMatching(/^refused: 127\.0\.0\.1, a loopback/),
    });
    expect(await gate.check(check(`https://localhost:${port}/`))).toMatchObject({
      healthy: false,
      detail: expect.stringMatching(/^refused: localhost resolves to (127\.0\.0\.1|::1), a loopback/),
    });
    expect(await gate.check(check(`https://[::ffff:127.0.0.1]:${port}/`))).toMatchObject({ healthy: false });
    expect(await gate.check(check(`http://127.0.0.1:${port}/`))).toEqual({
      healthy: false,
      detail: "refused: only https endpoints are called",
    });
    expect(requests).toEqual([]);
  });

  it("judges addresses: public ones pass; metadata, platform, private and loopback ones only when allowed", () => {
    expect(refusalOf("20.50.2.1")).toBeUndefined();
    expect(refusalOf("2603:1020::1")).toBeUndefined();
    for (const address of [
      "169.254.169.254",
      "168.63.129.16",
      "10.1.2.3",
      "172.20.0.1",
      "192.168.1.1",
      "::1",
      "fd00::1",
    ]) {
      expect(refusalOf(address), address).toBeDefined();
    }
    expect(refusalOf("10.1.2.3", networksOf(["10.1.0.0/16"]))).toBeUndefined();
    expect(refusalOf("10.2.2.3", networksOf(["10.1.0.0/16"]))).toBeDefined();
    expect(() => networksOf(["10.1.0.0"])).toThrow('"10.1.0.0" is not a network in CIDR notation such as 10.1.0.0/16');
  });
});
