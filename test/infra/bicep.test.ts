import { describe, expect, it } from "vitest";
import { blank, objectEntries, parseBicep, resolveObject, valueAt } from "./bicep.js";

describe("the Bicep reader", () => {
  it("blanks comments and string contents without moving any offset", () => {
    const source = "var a = '{${b('}')}' // {\n/* } */ var c = 1";
    const { code, masked } = blank(source);
    expect(code).toHaveLength(source.length);
    expect(masked).toHaveLength(source.length);
    expect(code).not.toContain("// {");
    expect(masked).not.toMatch(/[{}]/);
    expect(code).toContain("'{${b('}')}'");
  });

  it("finds declarations, their defaults, loops and conditions", () => {
    const file = parseBicep(
      [
        "targetScope = 'subscription'",
        "@secure()",
        "param secret string = ''",
        "param name string",
        "var items = loadJsonContent('x.json').items",
        "resource many 'Microsoft.Test/things@2024-01-01' = [for (item, i) in items: {",
        "  name: item.name",
        "}]",
        "resource maybe 'Microsoft.Test/things@2024-01-01' existing = if (name != '') {",
        "  name: name",
        "}",
        "module child 'child.bicep' = {",
        "  name: 'child'",
        "}",
        "output OUT string = name",
      ].join("\n"),
    );
    expect(file.targetScope).toBe("subscription");
    expect(file.params).toEqual([
      { name: "secret", type: "string", hasDefault: true, secure: true },
      { name: "name", type: "string", hasDefault: false, secure: false },
    ]);
    expect(file.resources[0]).toMatchObject({
      symbol: "many",
      target: "Microsoft.Test/things",
      apiVersion: "2024-01-01",
      loop: { item: "item", index: "i", source: "items" },
    });
    expect(file.resources[1]).toMatchObject({ existing: true, condition: "name != ''" });
    expect(file.modules[0]).toMatchObject({ symbol: "child", target: "child.bicep" });
    expect(file.outputs).toEqual([{ name: "OUT", type: "string", value: "name" }]);
  });

  it("reads object entries across multi-line values, commas, quoted keys and trailing comments", () => {
    const entries = objectEntries(
      [
        "{",
        "  plain: 'a:b' // the first",
        "  'quoted-key': { nested: [1, 2] }",
        "  ternary: cond",
        "    ? 'yes'",
        "    : 'no'",
        "  one: 1, two: 2",
        "}",
      ].join("\n"),
    );
    expect(entries).toEqual([
      { key: "plain", value: "'a:b'", comment: "the first" },
      { key: "quoted-key", value: "{ nested: [1, 2] }" },
      { key: "ternary", value: "cond\n    ? 'yes'\n    : 'no'" },
      { key: "one", value: "1" },
      { key: "two", value: "2" },
    ]);
  });

  it("follows paths into nested objects and resolves unions of variables", () => {
    const file = parseBicep("var base = { a: 1 }\nvar more = { b: 2 }\n");
    expect(valueAt("{ x: { y: { z: 'deep' } } }", ["x", "y", "z"])).toBe("'deep'");
    expect(resolveObject("union(base, more, { c: 3 })", file)?.map((e) => e.key)).toEqual(["a", "b", "c"]);
    expect(resolveObject("someParam", file)).toBeUndefined();
  });
});
