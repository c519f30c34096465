/** Reading the controller's device API until a condition holds, for the external broker tests. */
import type { ControllerHandle } from '../helpers/fleet.js';

export interface DeviceView {
  deviceId: string;
  state: string;
  stateReason: string | null;
  seq: { contiguous: number; max: number; stored: number; missing: number };
}

export async function devicesOf(controller: Pick<ControllerHandle, 'get'>): Promise<Map<string, DeviceView>> {
  const body = await controller.get<{ devices: DeviceView[] }>('/api/v1/devices');
  return new Map(body.devices.map((d) => [d.deviceId, d]));
}

/** Polls `probe` every 200 ms until it returns a value; fails after the timeout naming what it waited for. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
