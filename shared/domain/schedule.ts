const hourInMs = 3_600_000;
const dayInMs = 86_400_000;

/**
 * The window a scheduled check covers: since its previous run, as the Functions host records it in the timer's
 * `scheduleStatus.last`. Without a record (a first run; the host says 0001-01-01) it looks back one hour; after an
 * outage, at most a day. Either way a request made twice is the same build, dropped as a duplicate.
 */
export function scheduleWindow(lastRunAt: Date | undefined, now: Date): { since: Date; now: Date } {
  const lookBack = lastRunAt && lastRunAt.getTime() > 0 ? now.getTime() - lastRunAt.getTime() : hourInMs;
  return { since: new Date(now.getTime() - Math.min(Math.max(lookBack, 0), dayInMs)), now };
}
