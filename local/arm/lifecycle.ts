import { cleanUpTemplate, settleRuns, templateType } from "./imageBuilder.js";
import type { Store } from "./store.js";

/**
 * Brings time-driven state up to date before a request is answered: runs that reached Distributing or ended, and
 * deletions whose time has come (the resource, or resource group, disappears; a template takes what Image Builder
 * created for it along). Cheap when nothing is pending.
 */
export function settle(store: Store): void {
  settleRuns(store);
  const nowMs = store.now();
  for (const key of [...store.deleting]) {
    const resource = store.resources.get(key);
    if (!resource || resource.deletingUntilMs === undefined || nowMs < resource.deletingUntilMs) continue;
    if (resource.type === templateType) cleanUpTemplate(store, resource);
    store.delete(resource.id);
  }
  for (const group of [...store.groups.values()]) {
    if (group.deletingUntilMs !== undefined && nowMs >= group.deletingUntilMs) {
      store.deleteGroup(group.subscriptionId, group.name);
    }
  }
}
