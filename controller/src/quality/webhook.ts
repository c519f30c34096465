/**
 * Sends an alert to a webhook: one JSON POST, a timeout, success on any 2xx. The caller keeps the
 * delivery state (quality_alerts.notified_at) and retries on its next round.
 */
import { PdmError } from '@pdm/protocol';

export interface WebhookTarget {
  url: string;
  timeoutMs: number;
}

export async function postJson(target: WebhookTarget, body: unknown): Promise<void> {
  let res: Response;
  try {
    res = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(target.timeoutMs),
    });
  } catch (cause) {
    throw new PdmError('INTERNAL', 'webhook unreachable', { cause, context: { reason: (cause as Error).message.slice(0, 200) } });
  }
  // the body is not needed; read it so the connection can be reused
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new PdmError('INTERNAL', `webhook answered HTTP ${res.status}`, { context: { status: res.status } });
}
