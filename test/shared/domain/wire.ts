import type { TokenCredential } from "@azure/core-auth";
import type { HttpClient, PipelineRequest } from "@azure/core-rest-pipeline";
import { createHttpHeaders } from "@azure/core-rest-pipeline";

/** A credential that never talks to Entra ID. */
export const stubCredential: TokenCredential = {
  getToken: async () => ({ token: "stub", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

/**
 * Client options whose HTTP client records each request and answers 400, so a real SDK client serializes a model to
 * its wire form without any network. The 400 is not retried by the SDK's retry policy.
 */
export function capturingClientOptions(): {
  options: { endpoint: string; httpClient: HttpClient };
  requests: PipelineRequest[];
} {
  const requests: PipelineRequest[] = [];
  const httpClient: HttpClient = {
    sendRequest: async (request) => {
      requests.push(request);
      return {
        request,
        status: 400,
        headers: createHttpHeaders({ "content-type": "application/json" }),
        bodyAsText: JSON.stringify({ error: { code: "Captured", message: "request captured by the test" } }),
      };
    },
  };
  return { options: { endpoint: "https://management.invalid", httpClient }, requests };
}

const mapParents = new Set(["tags", "userAssignedIdentities", "artifactTags", "managedResourceTags"]);

/** Property paths of a JSON value with the JSON type at each: `properties.customize[].type` → `string`. */
export function propertyPaths(value: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) {
    out.set(prefix, "array");
    for (const item of value) propertyPaths(item, `${prefix}[]`, out);
  } else if (value !== null && typeof value === "object") {
    if (prefix !== "") out.set(prefix, "object");
    const last = prefix.split(".").pop() ?? "";
    for (const [key, child] of Object.entries(value)) {
      const name = mapParents.has(last) ? "<key>" : key;
      propertyPaths(child, prefix === "" ? name : `${prefix}.${name}`, out);
    }
  } else {
    out.set(prefix, typeof value);
  }
  return out;
}
