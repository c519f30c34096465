/**
 * The step every kept per-asset state takes when it reads the changes since the number it saw
 * (DowntimeState: events, migration 010; VersionImpacts: spans and caught/missed windows, 011): what it
 * keeps for the changed assets is dropped before they are read again, all of it when nothing was read
 * before. One rule, so the two cannot drift apart.
 */

/** Drops the entries of `changed` from each map, or every entry when `changed` is undefined (nothing read yet). */
export function dropChanged(changed: readonly string[] | undefined, ...kept: Map<string, unknown>[]): void {
  for (const map of kept) {
    if (changed === undefined) map.clear();
    else for (const assetId of changed) map.delete(assetId);
  }
}
