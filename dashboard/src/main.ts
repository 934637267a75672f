/*
 * The dashboard page: asks `<page>/data` for the read model, renders it, and asks again after the interval the server
 * gives (the browser revalidates with If-None-Match, so an unchanged model costs a 304). The function key comes from
 * the URL fragment (`#code=...`: never sent to the server, so never in its logs or a Referer), or from the form; it is
 * kept in sessionStorage (this tab only), sent in the `x-functions-key` header, and removed from the address bar at once.
 */
import type { Dashboard, DashboardImage } from "../../shared/usecases/dashboardModel.js";
import { h } from "./dom.js";
import { formatTime, keyFromUrl, matchesFilter, needsAttention, urlWithoutKey } from "./format.js";
import { renderImage, renderSummary } from "./render.js";

const keyStorage = "image-pipeline.functionKey";
/** Above this many images, the ones that need no attention start collapsed (their body is built when opened). */
const openAllUpTo = 12;
const maxBackoffInMs = 300_000;

interface Section {
  /** The data it was built from: compared with the next read's. */
  image: DashboardImage;
  element: HTMLElement;
}

const state = {
  key: undefined as string | undefined,
  etag: undefined as string | undefined,
  data: undefined as Dashboard | undefined,
  sections: new Map<string, Section>(),
  /** Open state the operator chose, per image. */
  open: new Map<string, boolean>(),
  timer: undefined as ReturnType<typeof setTimeout> | undefined,
  inFlight: false,
  failuresInARow: 0,
  firstRenderDone: false,
  lastAnnouncement: "",
};

const dataUrl = () => `${location.pathname.replace(/\/+$/, "")}/data`;
/** `?expand=all` opens every image, however many there are. */
const expandAll = new URLSearchParams(location.search).get("expand") === "all";

// The page's frame: built once; the parts below are filled in place.
const status = h("p", { class: "status", id: "status" }, "Loading…");
const announce = h("p", { class: "visually-hidden", "aria-live": "polite", id: "announce" });
const filterInput = h("input", {
  type: "search",
  id: "filter",
  autocomplete: "off",
  placeholder: "name or description",
});
const attentionOnly = h("input", { type: "checkbox", id: "attention" });
const refreshButton = h("button", { type: "button", id: "refresh" }, "Refresh now");
const forgetButton = h("button", { type: "button", id: "forget", hidden: true }, "Forget key");
const keyInput = h("input", { type: "password", id: "key", autocomplete: "off", required: true, spellcheck: "false" });
const keyMessage = h("p", { class: "key-message", id: "key-message" });
const keyForm = h(
  "form",
  { class: "key-form", hidden: true, "aria-labelledby": "key-title" },
  h("h2", { id: "key-title" }, "Function key"),
  keyMessage,
  h("label", { for: "key" }, "Key of the dashboardData function"),
  keyInput,
  h("button", { type: "submit" }, "Open dashboard"),
  h(
    "p",
    { class: "hint" },
    "Get it with: az functionapp function keys list -g <resource group> -n <app> --function-name dashboardData. ",
    "It stays in this tab only (sessionStorage) and is sent in a header, never in a URL.",
  ),
);
const summaryHolder = h("div", { id: "summary" });
const warningsHolder = h("div", { id: "warnings" });
const emptyFilter = h("p", { class: "meta", hidden: true }, "No image matches the filter.");
const imagesHolder = h("div", { class: "images", id: "images" });

function frame(): HTMLElement {
  return h(
    "div",
    { class: "page" },
    h(
      "header",
      { class: "top" },
      h("h1", null, "Image pipeline"),
      status,
      h(
        "form",
        { class: "controls", role: "search", "aria-label": "Filter images" },
        h("label", { for: "filter" }, "Filter"),
        filterInput,
        h("label", { for: "attention", class: "check" }, attentionOnly, " Needs attention only"),
        refreshButton,
        forgetButton,
      ),
    ),
    h("main", null, keyForm, summaryHolder, warningsHolder, emptyFilter, imagesHolder),
    announce,
  );
}

function setStatus(text: string, tone: "ok" | "bad" | "plain" = "plain"): void {
  status.textContent = text;
  status.className = `status ${tone}`;
}

function showKeyForm(message: string): void {
  keyForm.hidden = false;
  keyMessage.textContent = message;
  setStatus("Waiting for a function key", "bad");
  keyInput.focus();
}

function storeKey(key: string | undefined): void {
  state.key = key;
  try {
    if (key) sessionStorage.setItem(keyStorage, key);
    else sessionStorage.removeItem(keyStorage);
  } catch {
    // Storage may be disabled: the key then lives in memory only, for this page.
  }
  forgetButton.hidden = !key;
}

function schedule(inMs: number): void {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => void poll(), inMs);
}

async function poll(): Promise<void> {
  if (state.inFlight) return;
  if (document.hidden) return; // visibilitychange polls again when the tab is shown.
  if (!state.key) {
    // The data needs a key: asking without one would only earn a 401.
    showKeyForm("This dashboard needs a function key.");
    return;
  }
  clearTimeout(state.timer);
  state.inFlight = true;
  const headers: Record<string, string> = { accept: "application/json", "x-functions-key": state.key };
  const interval = () => Math.max(1, state.data?.refreshAfterInSeconds ?? 30) * 1000;
  try {
    // "no-cache": the browser revalidates its copy with If-None-Match; an unchanged model comes back as a 304 on the
    // wire and as the cached response here, with the same ETag.
    const response = await fetch(dataUrl(), { headers, cache: "no-cache", credentials: "omit" });
    if (response.status === 401 || response.status === 403) {
      storeKey(undefined);
      showKeyForm("The key was refused. Enter a current key.");
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const etag = response.headers.get("etag") ?? undefined;
    if (etag && etag === state.etag && state.data) {
      state.failuresInARow = 0;
      setStatus(`Live · unchanged, checked ${formatTime(new Date())} · every ${interval() / 1000} s`, "ok");
      schedule(interval());
      return;
    }
    const text = await response.text();
    if (!state.data) performance.mark("dashboard:data-received");
    const data = JSON.parse(text) as Dashboard;
    state.etag = etag;
    state.data = data;
    state.failuresInARow = 0;
    keyForm.hidden = true;
    await render(data);
    setStatus(`Live · read from Azure ${formatTime(new Date(data.readAt))} · every ${interval() / 1000} s`, "ok");
    schedule(interval());
  } catch (error) {
    state.failuresInARow++;
    const backoff = Math.min(maxBackoffInMs, interval() * 2 ** state.failuresInARow);
    const shown = state.data ? "showing the last data read" : "nothing to show yet";
    setStatus(
      `Could not refresh (${(error as Error).message}); ${shown}; retrying in ${Math.round(backoff / 1000)} s`,
      "bad",
    );
    schedule(backoff);
  } finally {
    state.inFlight = false;
  }
}

/** Longest a slice of the first render may hold the main thread: the first screenful paints after the first one. */
const renderSliceInMs = 16;

async function render(data: Dashboard): Promise<void> {
  const first = !state.firstRenderDone;
  if (first) performance.mark("dashboard:render-start");
  const now = new Date();
  summaryHolder.replaceChildren(renderSummary(data));
  warningsHolder.replaceChildren(
    ...(data.warnings ?? []).map((w) => h("p", { class: "alert warn", role: "status" }, w)),
  );
  const openByDefault = data.images.length <= openAllUpTo || expandAll;
  const build = (image: DashboardImage, index: number): HTMLElement => {
    const open = state.open.get(image.image) ?? (openByDefault || needsAttention(image));
    const element = renderImage(image, index, now, open);
    element.querySelector("details")?.addEventListener("toggle", (event) => {
      state.open.set(image.image, (event.target as HTMLDetailsElement).open);
    });
    state.sections.set(image.image, { image, element });
    return element;
  };

  if (first) {
    // Progressively: slices of images appended in separate tasks, so the first frame does not wait for 10,000 cells.
    let index = 0;
    while (index < data.images.length) {
      const sliceStart = performance.now();
      const slice: HTMLElement[] = [];
      do {
        slice.push(build(data.images[index]!, index));
        index++;
      } while (index < data.images.length && performance.now() - sliceStart < renderSliceInMs);
      imagesHolder.append(...slice);
      if (!state.firstRenderDone) {
        state.firstRenderDone = true;
        performance.mark("dashboard:first-render");
        // Let the first screenful paint before building the rest: a task queued from the next animation frame runs
        // after that frame is painted.
        await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve)));
        performance.mark("dashboard:first-frame");
      } else if (index < data.images.length) {
        await new Promise((resolve) => setTimeout(resolve));
      }
    }
    performance.mark("dashboard:complete");
  } else {
    // Later reads: only the images whose data changed are rebuilt.
    const seen = new Set<string>();
    const ordered: HTMLElement[] = [];
    data.images.forEach((image, index) => {
      seen.add(image.image);
      const existing = state.sections.get(image.image);
      if (existing && JSON.stringify(existing.image) === JSON.stringify(image)) {
        existing.image = image;
        ordered.push(existing.element);
        return;
      }
      const element = build(image, index);
      if (existing) replaceKeepingFocus(existing.element, element);
      ordered.push(element);
    });
    for (const [name, section] of state.sections) {
      if (!seen.has(name)) {
        section.element.remove();
        state.sections.delete(name);
      }
    }
    const current = [...imagesHolder.children];
    if (current.length !== ordered.length || current.some((el, i) => el !== ordered[i])) {
      imagesHolder.replaceChildren(...ordered);
    }
  }
  applyFilter();
  const s = data.summary;
  const announcement = `${s.buildsInFlight} builds in flight, ${s.recentFailures} recent failures, ${s.versionsByState["replicating"] ?? 0} versions replicating`;
  if (!first && announcement !== state.lastAnnouncement) announce.textContent = announcement;
  state.lastAnnouncement = announcement;
  document.body.dataset.readAt = data.readAt;
  document.body.dataset.state = "ready";
}

/** Replaces an image's section; the element that had focus in it gets focus back in the new one. */
function replaceKeepingFocus(old: HTMLElement, next: HTMLElement): void {
  const focused = document.activeElement;
  const key = focused instanceof HTMLElement && old.contains(focused) ? focused.dataset.focusKey : undefined;
  if (old.isConnected) old.replaceWith(next);
  if (key) {
    for (const candidate of next.querySelectorAll<HTMLElement>("[data-focus-key]")) {
      if (candidate.dataset.focusKey === key) {
        candidate.focus();
        break;
      }
    }
  }
}

function applyFilter(): void {
  const filter = filterInput.value;
  const onlyAttention = attentionOnly.checked;
  let shown = 0;
  for (const image of state.data?.images ?? []) {
    const section = state.sections.get(image.image);
    if (!section) continue;
    const visible = matchesFilter(image, filter) && (!onlyAttention || needsAttention(image as DashboardImage));
    section.element.hidden = !visible;
    if (visible) shown++;
  }
  emptyFilter.hidden = shown > 0 || !state.data || state.data.images.length === 0;
}

function start(): void {
  const url = new URL(location.href);
  const fromUrl = keyFromUrl(url);
  if (fromUrl) {
    // Out of the address bar and the history entry before anything else can read or send it.
    history.replaceState(null, "", urlWithoutKey(url));
    storeKey(fromUrl);
  } else {
    let stored: string | null = null;
    try {
      stored = sessionStorage.getItem(keyStorage);
    } catch {
      stored = null;
    }
    storeKey(stored ?? undefined);
  }

  // With a key, the data first: its request is on the way while the page's frame is built. Without one, the frame
  // must be there for the key form to take focus.
  const early = state.key !== undefined;
  if (early) void poll();
  document.body.replaceChildren(frame());
  filterInput.addEventListener("input", applyFilter);
  attentionOnly.addEventListener("change", applyFilter);
  refreshButton.addEventListener("click", () => void poll());
  forgetButton.addEventListener("click", () => {
    storeKey(undefined);
    showKeyForm("Key forgotten. Enter a key to see the dashboard again.");
  });
  // The filter form and the key form never navigate: the CSP's form-action is 'none'.
  document.querySelector("form.controls")?.addEventListener("submit", (event) => event.preventDefault());
  keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) return;
    keyInput.value = "";
    storeKey(key);
    keyForm.hidden = true;
    setStatus("Loading…");
    void poll();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) void poll();
  });
  if (!early) void poll();
}

start();
