import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkEventGridTopic, type SourceFiles } from "./checks.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const eventGridPath = "infra/app/eventgrid.bicep";
const rbacPath = "infra/app/rbac.bicep";
const modulePath = "infra/core/security/role-assignment.bicep";

function readTree(folder: string): SourceFiles {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith(".bicep"))
        files.set(relative(root, path).split("\\").join("/"), readFileSync(path, "utf8"));
    }
  };
  walk(join(root, folder));
  return files;
}

const real = readTree("infra");

/** A copy with one edit; throws when the text is not there, so no mutant is a no-op. */
function mutate(path: string, from: string | RegExp, to: string): SourceFiles {
  const text = real.get(path)!;
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`mutation of ${path} changed nothing: ${String(from)}`);
  return new Map(real).set(path, changed);
}

describe("the events' Event Grid topic in infra/", () => {
  it("takes CloudEvents 1.0 from Entra ID identities only, and the app may send to it and nothing more", () => {
    expect(checkEventGridTopic(real)).toEqual([]);
  });

  it("reports a topic in the Event Grid schema", () => {
    expect(checkEventGridTopic(mutate(eventGridPath, "'CloudEventSchemaV1_0'", "'EventGridSchema'"))).toEqual([
      expect.stringContaining("does not take CloudEvents 1.0 (inputSchema 'EventGridSchema')"),
    ]);
  });

  it("reports a topic that accepts access keys", () => {
    expect(checkEventGridTopic(mutate(eventGridPath, "disableLocalAuth: true", "disableLocalAuth: false"))).toEqual([
      expect.stringContaining("accepts access keys and SAS tokens"),
    ]);
  });

  it("reports a webhook subscription made whatever the parameter", () => {
    expect(checkEventGridTopic(mutate(eventGridPath, " = if (!empty(eventsWebhookUrl)) {", " = {"))).toEqual([
      expect.stringContaining("is not conditional on a URL parameter that defaults to empty"),
    ]);
  });

  it("reports a subscription that delivers another schema", () => {
    expect(
      checkEventGridTopic(
        mutate(eventGridPath, "eventDeliverySchema: 'CloudEventSchemaV1_0'", "eventDeliverySchema: 'EventGridSchema'"),
      ),
    ).toEqual([expect.stringContaining("does not deliver CloudEvents 1.0")]);
  });

  it("reports the Data Sender role on the resource group instead of the topic", () => {
    const mutant = mutate(
      rbacPath,
      "scopeKind: 'eventGridTopic'\n    scopeName: eventGridTopicName",
      "scopeKind: 'resourceGroup'",
    );
    expect(checkEventGridTopic(mutant)).toEqual([expect.stringContaining("beyond the events' topic")]);
  });

  it("reports the Data Sender role given to another identity", () => {
    const mutant = mutate(rbacPath, /(module appPublishesEvents[^]*?principalId: )appIdentity/, "$1builderIdentity");
    expect(checkEventGridTopic(mutant)).toEqual([expect.stringContaining("not the app's identity")]);
  });

  it("reports an assignment module that does not scope to the topic", () => {
    const mutant = mutate(modulePath, "  scope: eventGridTopic\n", "");
    expect(checkEventGridTopic(mutant)).toEqual([
      expect.stringContaining("does not scope an 'eventGridTopic' assignment"),
    ]);
  });
});
