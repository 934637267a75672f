import { createHmac, timingSafeEqual } from "node:crypto";

/** `sha256=<hex>` of a body, as GitHub signs deliveries in `X-Hub-Signature-256`. */
export function signBody(body: Uint8Array | string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * Verifies an `X-Hub-Signature-256` header against each secret (two during a rotation), in constant time for
 * signatures of the right length.
 */
export function verifySignature(body: Uint8Array, header: string | null | undefined, secrets: string[]): boolean {
  if (!header || !/^sha256=[0-9a-f]{64}$/i.test(header)) return false;
  const given = Buffer.from(header.slice("sha256=".length).toLowerCase(), "hex");
  let valid = false;
  for (const secret of secrets) {
    const expected = createHmac("sha256", secret).update(body).digest();
    // No early exit: every secret is tried, so timing does not tell which one matched.
    if (timingSafeEqual(given, expected)) valid = true;
  }
  return valid;
}
