/**
 * A scanner for secret literals in source files: connection strings with keys, SAS signatures, private keys and
 * password-like assignments. It reports where and what kind, never the matched text (findings end up in CI logs).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/** A kind of secret literal and the pattern that finds it. */
export interface SecretPattern {
  name: string;
  pattern: RegExp;
}

export const secretPatterns: readonly SecretPattern[] = [
  { name: "Service Bus / Event Hubs shared access key", pattern: /SharedAccessKey\s*=/i },
  { name: "Cosmos DB connection string", pattern: /AccountEndpoint=[^;\s]+;\s*AccountKey\s*=/i },
  { name: "storage account key", pattern: /AccountKey\s*=/i },
  { name: "storage connection string", pattern: /DefaultEndpointsProtocol\s*=/i },
  { name: "SAS token signature", pattern: /\bsig=(?:[A-Za-z0-9+/]|%[0-9A-Fa-f]{2}){16,}/ },
  { name: "private key", pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/ },
  { name: "password literal", pattern: /\bpassword\s*[:=]\s*['"`][^'"`\s]+['"`]/i },
  { name: "client secret literal", pattern: /\bclient_?secret\s*[:=]\s*['"`][^'"`\s]+['"`]/i },
];

/** One secret-looking literal: file, 1-based line and kind. */
export interface SecretFinding {
  path: string;
  line: number;
  kind: string;
}

/** Finds secret literals in one text. */
export function findSecrets(text: string, path: string): SecretFinding[] {
  const findings: SecretFinding[] = [];
  text.split("\n").forEach((line, index) => {
    // The more specific kinds come first; one finding per line is enough to point at it.
    const match = secretPatterns.find(({ pattern }) => pattern.test(line));
    if (match) findings.push({ path, line: index + 1, kind: match.name });
  });
  return findings;
}

/** Finds secret literals in every text file under the given folders of root (missing folders are skipped). */
export function scanFolders(root: string, folders: readonly string[]): SecretFinding[] {
  const findings: SecretFinding[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules") walk(path);
        continue;
      }
      const content = readFileSync(path);
      if (content.includes(0)) continue; // binary
      findings.push(...findSecrets(content.toString("utf8"), relative(root, path).split("\\").join("/")));
    }
  };
  for (const folder of folders) walk(join(root, folder));
  return findings;
}
