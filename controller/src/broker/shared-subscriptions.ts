/**
 * Scale-out through MQTT 5 shared subscriptions [MQTT-4.8.2]: instances subscribed as
 * `$share/<group>/<filter>` split the matching messages between them, each message going to one.
 *
 * Everything ingest stores lands in the one shared database, so it does not matter which instance
 * takes a record or a status. Replies are the exception: a reply settles a command that waits in the
 * memory of the instance that sent it, so every instance subscribes to all replies itself and ignores
 * those it did not ask for.
 */
import { allDevicesFilter, type UpKind } from '@pdm/protocol';

/** Upstream kinds every instance receives in full. */
export const PER_INSTANCE_KINDS: readonly UpKind[] = ['reply'];

const SHARE_PREFIX = '$share/';

/** The filter to subscribe with: `$share/<group>/<filter>` for shareable upstream filters, else unchanged. */
export function sharedFilter(filter: string, group: string | undefined): string {
  if (group === undefined || filter.startsWith(SHARE_PREFIX)) return filter;
  if (PER_INSTANCE_KINDS.some((kind) => allDevicesFilter(kind) === filter)) return filter;
  // Only the controller's own upstream filters are shared; anything else (the flush marker, a test
  // topic) is this instance's alone.
  if (!/^pdm\/v1\/\+\/up\/[a-z-]+$/.test(filter)) return filter;
  return `${SHARE_PREFIX}${group}/${filter}`;
}

export const isShared = (filter: string): boolean => filter.startsWith(SHARE_PREFIX);
