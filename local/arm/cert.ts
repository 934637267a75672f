import { X509Certificate } from "node:crypto";
import { readFile, writeFile, rename } from "node:fs/promises";
import path from "node:path";
import { generate } from "selfsigned";

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
  certPath: string;
}

const minimumRemainingValidityInMs = 7 * 24 * 3600 * 1000;

function stillUsable(certPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const sans = cert.subjectAltName ?? "";
    return (
      Date.parse(cert.validTo) - Date.now() > minimumRemainingValidityInMs &&
      sans.includes("DNS:localhost") &&
      sans.includes("IP Address:127.0.0.1")
    );
  } catch {
    return false;
  }
}

async function writeAtomically(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * The emulator's self-signed certificate (SANs localhost, 127.0.0.1, ::1): generated on first start and kept in the
 * state folder, so clients can trust one file across restarts.
 */
export async function loadOrCreateCertificate(stateDir: string): Promise<ServerCertificate> {
  const certPath = path.join(stateDir, "ca-cert.pem");
  const keyPath = path.join(stateDir, "server-key.pem");
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
    if (stillUsable(certPem)) return { certPem, keyPem, certPath };
  } catch {
    // Not there yet: generate below.
  }
  const pems = await generate(
    [
      { name: "commonName", value: "localhost" },
      { name: "organizationName", value: "image-pipeline ARM emulator" },
    ],
    {
      keyType: "ec",
      curve: "P-256",
      algorithm: "sha256",
      notBeforeDate: new Date(Date.now() - 3600_000),
      notAfterDate: new Date(Date.now() + 2 * 365 * 24 * 3600_000),
      extensions: [
        { name: "basicConstraints", cA: false },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
        { name: "extKeyUsage", serverAuth: true },
        {
          name: "subjectAltName",
          altNames: [
            { type: 2, value: "localhost" },
            { type: 7, ip: "127.0.0.1" },
            { type: 7, ip: "::1" },
          ],
        },
      ],
    },
  );
  await writeAtomically(keyPath, pems.private);
  await writeAtomically(certPath, pems.cert);
  return { certPem: pems.cert, keyPem: pems.private, certPath };
}
