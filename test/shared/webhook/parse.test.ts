import { describe, expect, it } from "vitest";
import { parseWebhook, type WebhookInput } from "../../../shared/webhook/parse.js";
import { signBody, verifySignature } from "../../../shared/webhook/signature.js";

const secret = "s3cr3t-webhook-value";
const commit = "9fceb02d0ae598e95dc970b74767f19372d61af8";

function delivery(options: {
  body: unknown;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  secrets?: string[];
  sign?: string | false;
  maxBodyInBytes?: number;
}): WebhookInput {
  const raw = Buffer.from(typeof options.body === "string" ? options.body : JSON.stringify(options.body));
  const headers = new Headers({ "content-type": "application/json", ...options.headers });
  if (options.sign !== false) headers.set("x-hub-signature-256", signBody(raw, options.sign ?? secret));
  return {
    headers,
    body: raw,
    query: new URLSearchParams(options.query),
    secrets: options.secrets ?? [secret],
    maxBodyInBytes: options.maxBodyInBytes ?? 1_048_576,
  };
}

const githubPush = {
  ref: "refs/heads/main",
  after: commit,
  pusher: { name: "octocat" },
  repository: { full_name: "contoso/golden-images" },
};

describe("parseWebhook", () => {
  describe("a generic JSON request", () => {
    it("becomes a build request for the named image and commit", () => {
      const outcome = parseWebhook(
        delivery({ body: { image: "ubuntu-2404", commit: commit.toUpperCase(), ref: "main" } }),
      );
      expect(outcome).toEqual({
        kind: "build",
        request: expect.objectContaining({
          image: "ubuntu-2404",
          commit,
          ref: "main",
          reason: "api",
          requestedBy: "api",
        }),
      });
    });

    it("carries the catalog entry hash the requester saw, and refuses one that is not a SHA-256", () => {
      const hash = "AB".repeat(32);
      expect(parseWebhook(delivery({ body: { image: "ubuntu-2404", catalogHash: hash } }))).toEqual({
        kind: "build",
        request: expect.objectContaining({ image: "ubuntu-2404", catalogHash: hash.toLowerCase() }),
      });
      expect(parseWebhook(delivery({ body: { image: "ubuntu-2404", catalogHash: "abc" } }))).toMatchObject({
        kind: "error",
        error: { status: 400, code: "InvalidRequest", target: "catalogHash" },
      });
    });

    it("answers 400 naming the field when the body breaks the schema", () => {
      const outcome = parseWebhook(delivery({ body: { image: "ubuntu-2404", commit: "not-hex!" } }));
      expect(outcome).toMatchObject({
        kind: "error",
        error: { status: 400, code: "InvalidRequest", target: "commit" },
      });
    });

    it("refuses unknown fields rather than ignoring a typo", () => {
      const outcome = parseWebhook(delivery({ body: { image: "ubuntu-2404", comit: commit } }));
      expect(outcome).toMatchObject({ kind: "error", error: { status: 400 } });
    });

    it("refuses image names with path or shell metacharacters", () => {
      for (const image of ["../etc/passwd", "a;rm -rf /", "$(id)", "a b", ""]) {
        expect(parseWebhook(delivery({ body: { image } })), image).toMatchObject({
          kind: "error",
          error: { status: 400, target: "image" },
        });
      }
    });

    it("answers 400 for a body that is not JSON", () => {
      expect(parseWebhook(delivery({ body: "{not json" }))).toMatchObject({
        kind: "error",
        error: { status: 400, code: "InvalidJson" },
      });
    });

    it("answers 415 for another content type", () => {
      const outcome = parseWebhook(delivery({ body: { image: "x" }, headers: { "content-type": "text/plain" } }));
      expect(outcome).toMatchObject({ kind: "error", error: { status: 415 } });
    });

    it("answers 413 for a body over the limit", () => {
      const outcome = parseWebhook(delivery({ body: { image: "x", ref: "r".repeat(200) }, maxBodyInBytes: 100 }));
      expect(outcome).toMatchObject({ kind: "error", error: { status: 413 } });
    });
  });

  describe("signatures", () => {
    it("refuses a delivery signed with another secret", () => {
      const outcome = parseWebhook(delivery({ body: { image: "ubuntu-2404" }, sign: "wrong" }));
      expect(outcome).toMatchObject({ kind: "error", error: { status: 401, code: "InvalidSignature" } });
    });

    it("refuses an unsigned delivery when a secret is configured", () => {
      const outcome = parseWebhook(delivery({ body: { image: "ubuntu-2404" }, sign: false }));
      expect(outcome).toMatchObject({ kind: "error", error: { status: 401 } });
    });

    it("accepts the previous secret during a rotation", () => {
      const outcome = parseWebhook(
        delivery({ body: { image: "ubuntu-2404" }, sign: "old-secret", secrets: ["new-secret", "old-secret"] }),
      );
      expect(outcome.kind).toBe("build");
    });

    it("accepts an unsigned generic request when no secret is configured (function key only)", () => {
      expect(parseWebhook(delivery({ body: { image: "ubuntu-2404" }, sign: false, secrets: [] })).kind).toBe("build");
    });

    it("verifies against the exact bytes, so a re-serialised body fails", () => {
      const raw = Buffer.from('{"image":"ubuntu-2404"}');
      expect(verifySignature(raw, signBody(raw, secret), [secret])).toBe(true);
      expect(verifySignature(Buffer.from('{"image": "ubuntu-2404"}'), signBody(raw, secret), [secret])).toBe(false);
      expect(verifySignature(raw, "sha256=zz", [secret])).toBe(false);
    });
  });

  describe("GitHub deliveries", () => {
    const github = (event: string, body: unknown, query: Record<string, string> = { image: "ubuntu-2404" }) =>
      parseWebhook(
        delivery({
          body,
          headers: { "x-github-event": event, "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958" },
          query,
        }),
      );

    it("turns a push into a build of the pushed commit", () => {
      expect(github("push", githubPush)).toEqual({
        kind: "build",
        request: { image: "ubuntu-2404", commit, ref: "refs/heads/main", reason: "push", requestedBy: "octocat" },
      });
    });

    it("ignores a push that deleted a branch", () => {
      expect(github("push", { ...githubPush, after: "0".repeat(40), deleted: true })).toEqual({
        kind: "ignored",
        reason: "branch deleted",
      });
    });

    it("builds a published release from its tag", () => {
      const outcome = github("release", {
        action: "published",
        release: { tag_name: "v1.4.0" },
        sender: { login: "octocat" },
      });
      expect(outcome).toMatchObject({ kind: "build", request: { ref: "refs/tags/v1.4.0", reason: "release" } });
    });

    it("builds only successful completed workflow runs", () => {
      const run = (conclusion: string) => ({
        action: "completed",
        workflow_run: { head_sha: commit, head_branch: "main", conclusion },
      });
      expect(github("workflow_run", run("success"))).toMatchObject({
        kind: "build",
        request: { commit, reason: "workflow_run" },
      });
      expect(github("workflow_run", run("failure")).kind).toBe("ignored");
    });

    it("answers a ping and ignores other events", () => {
      expect(github("ping", { zen: "Keep it logically awesome." }).kind).toBe("ignored");
      expect(github("issues", { action: "opened" }).kind).toBe("ignored");
    });

    it("needs the image in the query string", () => {
      expect(github("push", githubPush, {})).toMatchObject({ kind: "error", error: { status: 400, target: "image" } });
    });

    it("needs a secret to be configured at all", () => {
      const input = delivery({
        body: githubPush,
        headers: { "x-github-event": "push" },
        query: { image: "x" },
        secrets: [],
        sign: false,
      });
      expect(parseWebhook(input)).toMatchObject({ kind: "error", error: { status: 401, code: "SignatureRequired" } });
    });
  });
});
