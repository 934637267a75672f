import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadOrCreateCertificate } from "../../../local/arm/cert.js";

/** What Application Insights' ingestion receives (`POST <IngestionEndpoint>/v2.1/track`): a JSON array of envelopes. */
interface Envelope {
  tags: Record<string, string>;
  data: { baseType: string; baseData: Record<string, unknown> & { properties?: Record<string, string> } };
}

const clientId = "11111111-2222-3333-4444-555555555555";
const token = "token-for-monitor";

describe("telemetry to Application Insights with Entra ID", () => {
  const envelopes: Envelope[] = [];
  const authorizations: (string | undefined)[] = [];
  const tokenRequests: string[] = [];
  let stateDir: string;
  let ingestion: Server;
  let identity: Server;
  const listen = async (server: Server) => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as AddressInfo).port;
  };

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "appinsights-"));
    const certificate = await loadOrCreateCertificate(stateDir);
    // Stand-ins, on loopback: ingestion over HTTPS (the exporter uses https whatever the connection string says) and
    // the App Service managed identity endpoint (IDENTITY_ENDPOINT and IDENTITY_HEADER, as Azure sets them).
    ingestion = createHttpsServer({ cert: certificate.certPem, key: certificate.keyPem }, (request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (c: Buffer) => chunks.push(c));
      request.on("end", () => {
        let body = Buffer.concat(chunks);
        if (request.headers["content-encoding"] === "gzip") body = gunzipSync(body);
        if (request.url?.startsWith("/v2.1/track")) {
          authorizations.push(request.headers.authorization);
          envelopes.push(...(JSON.parse(body.toString("utf8")) as Envelope[]));
        }
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ itemsReceived: 1, itemsAccepted: 1, errors: [] }));
      });
    }) as unknown as Server;
    identity = createHttpServer((request, response) => {
      tokenRequests.push(`${request.url} ${request.headers["x-identity-header"]}`);
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          access_token: token,
          expires_on: String(Math.floor(Date.now() / 1000) + 3600),
          resource: "https://monitor.azure.com/",
          token_type: "Bearer",
          client_id: clientId,
        }),
      );
    });
    const [ingestionPort, identityPort] = await Promise.all([listen(ingestion), listen(identity)]);

    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--import", "tsx", join(import.meta.dirname, "../../fixtures/observability/exportOneSpan.ts")],
      {
        timeout: 60_000,
        env: {
          PATH: process.env.PATH,
          NODE_EXTRA_CA_CERTS: certificate.certPath,
          APPLICATIONINSIGHTS_CONNECTION_STRING: `InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:${ingestionPort}/`,
          APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `ClientId=${clientId};Authorization=AAD`,
          IDENTITY_ENDPOINT: `http://127.0.0.1:${identityPort}/msi/token`,
          IDENTITY_HEADER: "identity-header",
          // Nothing but the stand-ins may be called: not the SDK's own usage telemetry (statsbeat).
          APPLICATIONINSIGHTS_STATSBEAT_DISABLED: "true",
        },
      },
    );
    traceparent = (JSON.parse(stdout.trim().split("\n").at(-1)!) as { traceparent: string }).traceparent;
  }, 90_000);
  let traceparent: string;

  afterAll(async () => {
    await Promise.all([ingestion, identity].map((s) => new Promise((resolve) => s?.close(resolve))));
    rmSync(stateDir, { recursive: true, force: true });
  });

  it("authenticates as the managed identity the authentication string names", () => {
    expect(tokenRequests.length).toBeGreaterThan(0);
    expect(tokenRequests[0]).toContain(`client_id=${clientId}`);
    expect(tokenRequests[0]).toContain("identity-header");
    expect(authorizations.length).toBeGreaterThan(0);
    expect(new Set(authorizations)).toEqual(new Set([`Bearer ${token}`]));
  });

  it("sends the span as an operation of its trace, with the pipeline's attributes", () => {
    const [, traceId, spanId] = traceparent.split("-");
    // A consumer span is a request of the operation (its id is the span's).
    const request = envelopes.find((e) => e.data.baseType === "RequestData" && e.data.baseData.id === spanId);
    expect(request?.tags["ai.operation.id"]).toBe(traceId);
    expect(request?.tags["ai.cloud.role"]).toBe("image-pipeline");
    expect(request?.data.baseData.properties?.["image_pipeline.build.id"]).toBe("b-0123456789abcdef0123");
  });

  it("sends the log line with the operation and the span it was written in", () => {
    const [, traceId, spanId] = traceparent.split("-");
    const log = envelopes.find((e) => e.data.baseType === "MessageData");
    expect(log?.data.baseData.message).toBe("message handled");
    expect(log?.data.baseData.properties?.buildId).toBe("b-0123456789abcdef0123");
    expect(log?.tags["ai.operation.id"]).toBe(traceId);
    expect(log?.tags["ai.operation.parentId"]).toBe(spanId);
  });
});
