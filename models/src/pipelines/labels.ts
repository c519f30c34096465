/** Labels for "failure within the next `horizon`": row time t is positive when a failure f of the same
 * asset has f - horizon <= t < f. The failure hour itself is not positive: the failure is not ahead. */
export interface LabelEvent {
  assetId: number;
  time: number;
}

export function horizonLabels(
  assetIds: readonly number[],
  times: readonly number[],
  events: readonly LabelEvent[],
  horizonMs: number,
): Uint8Array {
  const byAsset = new Map<number, number[]>();
  for (const e of events) byAsset.set(e.assetId, [...(byAsset.get(e.assetId) ?? []), e.time]);
  const y = new Uint8Array(times.length);
  times.forEach((t, i) => {
    const failures = byAsset.get(assetIds[i]!) ?? [];
    y[i] = failures.some((f) => t >= f - horizonMs && t < f) ? 1 : 0;
  });
  return y;
}
