import { lookup, type LookupAddress } from "node:dns";
import { request } from "node:https";
import { BlockList, isIP } from "node:net";
import type { HealthCheckRequest, HealthCheckResult, HealthGate } from "../ports.js";

/*
 * A rollout's health endpoint is named in the catalog, which catalog publishers write: the app must not become a way
 * to reach what only it can reach (server-side request forgery). So, besides the catalog's own rules (https, no
 * credentials in the URL):
 * - the address the name resolves to must be public: not loopback (App Service's managed identity token service
 *   listens on a loopback URL, `IDENTITY_ENDPOINT`), link-local (the Instance Metadata Service, 169.254.169.254),
 *   private or shared ranges, and not Azure's platform address 168.63.129.16 (Learn: "What is IP address
 *   168.63.129.16?"). The connection goes to the very address that was checked, so a name that resolves to
 *   something else a moment later (DNS rebinding) is not followed;
 * - redirects are not followed (a 3xx is not healthy), no credentials or cookies are sent, the answer's body is
 *   discarded unread, and the whole check (resolution, connection, answer) ends within its timeout.
 * `allowedNetworks` (CIDRs, setting HEALTH_CHECK_ALLOWED_NETWORKS) names what may be called anyway: the subnet of a
 * health endpoint inside the app's own virtual network, or loopback for the local stack.
 */

const refused = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["168.63.129.16", 32],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const) {
  refused.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  refused.addSubnet(network, prefix, "ipv6");
}
for (const [network, prefix] of [
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
] as const) {
  refused.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["fc00::", 7],
  ["64:ff9b::", 96],
] as const) {
  refused.addSubnet(network, prefix, "ipv6");
}

/**
 * The networks named in `cidrs` (`10.1.0.0/16`, `127.0.0.1/32`, `fd00::/8`).
 * @throws Error naming an entry that is not a CIDR
 */
export function networksOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [network = "", bits = ""] = cidr.trim().split("/");
    const family = isIP(network);
    const prefix = Number(bits);
    if (!family || !/^\d+$/.test(bits) || prefix > (family === 6 ? 128 : 32)) {
      throw new Error(`"${cidr}" is not a network in CIDR notation such as 10.1.0.0/16`);
    }
    list.addSubnet(network, prefix, family === 6 ? "ipv6" : "ipv4");
  }
  return list;
}

/**
 * Why an address may not be called, or undefined when it may: a public address, or one in `allowed`. IPv4-mapped
 * IPv6 addresses are judged as IPv4.
 */
export function refusalOf(address: string, allowed: BlockList = new BlockList()): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const ip = mapped ?? address;
  const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
  if (allowed.check(ip, family) || !refused.check(ip, family)) return undefined;
  return `${address}, a loopback, link-local, private, multicast or platform address (not in HEALTH_CHECK_ALLOWED_NETWORKS)`;
}

class RefusedAddressError extends Error {}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** `lookup` for the connection: resolves, refuses a non-public answer, and connects to the address it checked. */
function guardedLookup(allowed: BlockList) {
  return (hostname: string, options: { all?: boolean }, callback: LookupCallback) => {
    lookup(hostname, { all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      for (const { address } of addresses) {
        const refusal = refusalOf(address, allowed);
        if (refusal) return callback(new RefusedAddressError(`${hostname} resolves to ${refusal}`), []);
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: "ENOTFOUND" }), []);
      callback(null, first.address, first.family);
    });
  };
}

/** {@link HealthGate} over HTTPS (Node's client), with the guards above. */
export class HttpsHealthGate implements HealthGate {
  private readonly allowed: BlockList;

  /** @throws Error when an allowed network is not a CIDR */
  constructor(private readonly options: { allowedNetworks?: readonly string[]; ca?: string } = {}) {
    this.allowed = networksOf(options.allowedNetworks ?? []);
  }

  async check(check: HealthCheckRequest): Promise<HealthCheckResult> {
    const unhealthy = (detail: string): HealthCheckResult => ({ healthy: false, detail });
    let url: URL;
    try {
      url = new URL(check.url);
    } catch {
      return unhealthy("refused: not a URL");
    }
    if (url.protocol !== "https:") return unhealthy("refused: only https endpoints are called");
    if (url.username || url.password) return unhealthy("refused: the URL carries credentials");
    // A literal address is connected to without a lookup: judge it here.
    const literal = url.hostname.replace(/^\[(.*)\]$/, "$1");
    if (isIP(literal)) {
      const refusal = refusalOf(literal, this.allowed);
      if (refusal) return unhealthy(`refused: ${refusal}`);
    }
    url.searchParams.set("image", check.image);
    url.searchParams.set("version", check.version);
    url.searchParams.set("wave", String(check.wave));
    url.searchParams.set("regions", check.regions.join(","));
    const seconds = `${Math.round(check.timeoutInMs / 100) / 10} s`;

    return new Promise<HealthCheckResult>((resolve) => {
      const req = request(
        url,
        {
          method: "GET",
          headers: { accept: "*/*", "user-agent": "image-pipeline-rollout" },
          signal: AbortSignal.timeout(check.timeoutInMs),
          lookup: guardedLookup(this.allowed) as never,
          agent: false,
          ...(this.options.ca ? { ca: this.options.ca } : {}),
        },
        (response) => {
          const status = response.statusCode ?? 0;
          response.resume();
          response.on("error", () => {});
          const healthy = status >= 200 && status < 300;
          resolve({
            healthy,
            detail:
              status >= 300 && status < 400 ? `answered ${status} (redirects are not followed)` : `answered ${status}`,
          });
        },
      );
      req.on("error", (error: Error & { code?: string }) => {
        if (error instanceof RefusedAddressError) return resolve(unhealthy(`refused: ${error.message}`));
        if (error.name === "AbortError" || error.name === "TimeoutError") {
          return resolve(unhealthy(`no answer within ${seconds}`));
        }
        resolve(unhealthy(`could not be reached: ${error.code ?? error.message}`));
      });
      req.end();
    });
  }
}
