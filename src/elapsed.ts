// Time since `since` for the rate windows of the logs. They run on the wall clock, which can step
// back (an NTP step at boot, a VM restored from a snapshot): a window that began "in the future"
// has passed, rather than holding its lines back until the clock catches up (an hour of silence
// after a step back of an hour).
export function elapsed(now: number, since: number): number {
  return now < since ? Number.POSITIVE_INFINITY : now - since;
}
