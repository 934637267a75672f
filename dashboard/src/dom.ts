/*
 * The only way the dashboard makes DOM: text always goes in as text nodes, attributes through setAttribute, never
 * HTML. Every string may come from the catalog, tags or Azure, so nothing is ever parsed as markup (the page's CSP
 * also forbids HTML sinks with Trusted Types).
 */

type Child = Node | string | number | false | null | undefined;
type Attributes = Record<string, string | number | boolean | undefined>;

/** Attributes that would run or load something: refused here whatever their value. */
const forbidden = /^(on|style$|srcdoc$|formaction$)/i;

/** Creates an element with attributes (`class`, `id`, `aria-*`, ...) and children (strings become text nodes). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (attributes) {
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === false) continue;
      if (forbidden.test(name)) throw new Error(`attribute ${name} is not allowed`);
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends children (strings as text). */
export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** A `<time>` element: readable text, machine-readable `datetime`. */
export function time(iso: string | undefined, text: string): HTMLTimeElement | string {
  return iso && text ? h("time", { datetime: iso }, text) : "";
}
