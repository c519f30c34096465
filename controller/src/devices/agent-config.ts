/**
 * The agent configuration printed at enrollment: the fields of the agent's own schema
 * (agent/src/config/schema.ts) that the controller knows. The operator adds `model` and `source`
 * (what the device runs on which sensor data) and writes the password to `link.passwordFile`.
 */
import type { KeySet } from '@pdm/protocol';
import type { DeviceIdentity } from './credentials-repo.js';

export interface AgentConfigSettings {
  /** Where devices reach the broker (mqtt:// or mqtts://). */
  brokerUrl: string;
  /** Where the password file goes on the device; only a suggestion, printed into the config. */
  passwordFile: string;
  /** For an mqtts:// broker: where the CA certificate goes on the device. */
  caFile?: string | undefined;
}

export interface AgentConfigDraft {
  deviceId: string;
  assetId: string;
  assetClass: string;
  site: string;
  brokerUrl: string;
  link: { passwordFile: string; caFile?: string };
  trust: { keys: { keyid: string; publicKeyPem: string }[]; threshold: number; version: number };
}

export function agentConfigFor(identity: DeviceIdentity, settings: AgentConfigSettings, keySet: KeySet): AgentConfigDraft {
  const tls = settings.brokerUrl.startsWith('mqtts:') || settings.brokerUrl.startsWith('wss:');
  return {
    deviceId: identity.deviceId,
    assetId: identity.assetId,
    assetClass: identity.assetClass,
    site: identity.site,
    brokerUrl: settings.brokerUrl,
    link: { passwordFile: settings.passwordFile, ...(tls && settings.caFile !== undefined ? { caFile: settings.caFile } : {}) },
    trust: {
      keys: keySet.keys.map((k) => ({ keyid: k.keyid, publicKeyPem: k.publicKeyPem })),
      threshold: keySet.threshold,
      version: keySet.version,
    },
  };
}
