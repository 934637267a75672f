/** Full id of a managed image. */
export function managedImageId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/images/${name}`;
}

/** Subscription, resource group and name out of an ARM resource id. */
export function parseArmId(id: string): { subscriptionId: string; resourceGroup: string; name: string } {
  const match = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/.+\/([^/]+)$/i.exec(id);
  if (!match) throw new Error(`not an ARM resource id: ${id}`);
  return { subscriptionId: match[1]!, resourceGroup: match[2]!, name: match[3]! };
}
