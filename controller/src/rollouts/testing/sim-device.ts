/**
 * A device for the rollout engine's unit tests, over real MQTT: it verifies each deploy envelope with
 * the controller's published key set (protocol openEnvelope, the agent's checks 1-6 in short), keeps
 * the anti-rollback high-water mark, answers like the agent (`received`, or MANIFEST_REJECTED
 * `rejected:<reason>`), and then plays out the deployment the way the test asks: commit, fail a trial
 * and revert, or stay silent. It reports deployment records and statuses like the agent does. The
 * real agent is exercised by the cross-process suite in test/rollouts/.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import {
  KEYSET_PAYLOAD_TYPE, MANIFEST_PAYLOAD_TYPE, downTopic, encodePayload, keySetSchema, manifestSchema, openEnvelope, trustedKeysFrom, upTopic,
  type Command, type DeploymentStatusValue, type KeySet, type Manifest, type PayloadOf, type Status, type UpKind,
} from '@pdm/protocol';

export type Behaviour = 'commit' | 'fail' | 'silent';

type Models = Status['models'];

export interface SimDeviceOptions {
  deviceId: string;
  mqttUrl: string;
  keySet: KeySet;
  assetClass?: string;
  site?: string;
  /** What runs at start: a configured model (no release). */
  active: { name: string; version: string };
  behaviour?: Behaviour;
  /** Answers deploy commands this long after they arrive (a loaded device: past the controller's command timeout). */
  replyDelayMs?: number;
}

export class SimDevice {
  readonly deviceId: string;
  behaviour: Behaviour;
  /** Every deploy command received, with the manifest that verified (if it did). */
  readonly deploys: { commandId: string; manifest: Manifest | undefined; answer: string }[] = [];
  readonly trustCommands: string[] = [];
  models: Models;
  #client: MqttClient | undefined;
  #keySet: KeySet;
  #highWater = new Map<string, number>();
  #seq = 0;
  #answered = new Map<string, Record<string, unknown> | { error: string }>();
  #previous: Models[number] | undefined;

  constructor(private readonly o: SimDeviceOptions) {
    this.deviceId = o.deviceId;
    this.behaviour = o.behaviour ?? 'commit';
    this.#keySet = o.keySet;
    this.models = [{ ...o.active, role: 'active' }];
  }

  get online(): boolean {
    return this.#client?.connected === true;
  }

  async connect(url = this.o.mqttUrl): Promise<void> {
    const client = await connectAsync(url, { clientId: this.deviceId, protocolVersion: 4, clean: true, reconnectPeriod: 0, connectTimeout: 5000 });
    this.#client = client;
    await client.subscribeAsync(downTopic(this.deviceId, 'cmd'), { qos: 1 });
    // a reply or record still in flight when a test disconnects the device is lost, as on a real link
    client.on('message', (_t, bytes) => { this.#onCommand(JSON.parse(bytes.toString()) as Command).catch(() => undefined); });
    await this.reportStatus();
  }

  async disconnect(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    await client?.publishAsync(upTopic(this.deviceId, 'status'), encodePayload('status', this.#status('offline')), { qos: 1, retain: true }).catch(() => undefined);
    await client?.endAsync().catch(() => undefined);
    this.#client = undefined;
  }

  async reportStatus(): Promise<void> {
    await this.publish('status', this.#status('online'));
  }

  async publish<K extends UpKind>(kind: K, payload: PayloadOf<K>): Promise<void> {
    if (this.#client === undefined) return;
    await this.#client.publishAsync(upTopic(this.deviceId, kind), encodePayload(kind, payload), { qos: 1, retain: kind === 'status' });
  }

  nextSeq(): number {
    this.#seq += 1;
    return this.#seq;
  }

  #status(state: 'online' | 'offline'): Status {
    return {
      deviceId: this.deviceId, state, time: new Date().toISOString(), agentVersion: '0.1.0', bootId: 'sim',
      assetId: `asset-${this.deviceId}`, assetClass: this.o.assetClass ?? 'press', site: this.o.site ?? 'plant-a',
      models: this.models, lastSeq: this.#seq,
    };
  }

  async #onCommand(cmd: Command): Promise<void> {
    let result = this.#answered.get(cmd.id);
    if (result === undefined) {
      result = this.#execute(cmd);
      this.#answered.set(cmd.id, result);
    } else if (cmd.type === 'deploy') {
      this.deploys.push({ commandId: cmd.id, manifest: undefined, answer: 'repeat' });
    }
    const time = new Date().toISOString();
    const reply = 'error' in result
      ? { deviceId: this.deviceId, commandId: cmd.id, time, status: 'error' as const, error: { code: 'MANIFEST_REJECTED' as const, message: String(result.error) } }
      : { deviceId: this.deviceId, commandId: cmd.id, time, status: 'ok' as const, data: result };
    const delay = cmd.type === 'deploy' ? this.o.replyDelayMs ?? 0 : 0;
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    await this.publish('reply', reply);
    if (cmd.type === 'deploy' && !('error' in result)) await this.#playOut(this.deploys[this.deploys.length - 1]!.manifest!);
  }

  #execute(cmd: Command): Record<string, unknown> | { error: string } {
    if (cmd.type === 'trust-keys') {
      this.trustCommands.push(cmd.id);
      try {
        const next = keySetSchema.parse(JSON.parse(openEnvelope(Buffer.from(JSON.stringify(cmd.envelope)), KEYSET_PAYLOAD_TYPE, trustedKeysFrom(this.#keySet)).toString()));
        if (next.version <= this.#keySet.version) return { error: `rejected:${next.version === this.#keySet.version ? 'already-installed' : 'rollback'}: old key set` };
        this.#keySet = next;
        return { version: next.version };
      } catch {
        return { error: 'rejected:signature: key set not signed by a trusted key' };
      }
    }
    if (cmd.type !== 'deploy') return {};
    let manifest: Manifest;
    try {
      manifest = manifestSchema.parse(JSON.parse(openEnvelope(Buffer.from(JSON.stringify(cmd.envelope)), MANIFEST_PAYLOAD_TYPE, trustedKeysFrom(this.#keySet)).toString()));
    } catch {
      this.deploys.push({ commandId: cmd.id, manifest: undefined, answer: 'rejected:signature' });
      return { error: 'rejected:signature: not signed by a trusted key' };
    }
    const high = this.#highWater.get(manifest.model.name) ?? 0;
    const refusal = manifest.target.deviceIds?.includes(this.deviceId) === false ? 'target'
      : manifest.release < high ? 'rollback' : manifest.release === high ? 'already-installed' : undefined;
    if (refusal !== undefined) {
      this.deploys.push({ commandId: cmd.id, manifest, answer: `rejected:${refusal}` });
      return { error: `rejected:${refusal}: refused` };
    }
    this.deploys.push({ commandId: cmd.id, manifest, answer: 'received' });
    return { deploymentId: manifest.deploymentId, status: 'received' };
  }

  /** Reports the last deployment as failed in trial and reverted (for a device that was 'silent'). */
  async failLast(): Promise<void> {
    const m = this.deploys.filter((d) => d.manifest !== undefined).at(-1)!.manifest!;
    await this.#record(m, 'failed:non-finite', 'reverted');
  }

  /** Install, trial and the outcome, reported as the agent would. */
  async #playOut(m: Manifest): Promise<void> {
    if (this.behaviour === 'silent') return;
    await this.#record(m, 'received');
    this.#highWater.set(m.model.name, m.release);
    const entry = { ...m.model, release: m.release, mode: m.mode, deploymentId: m.deploymentId };
    const role = m.mode === 'shadow' ? 'shadow' : 'active';
    const before = this.models;
    this.#previous = before.find((x) => x.role === 'active');
    const keep = before.filter((x) => x.role !== role && !(role === 'active' && x.name === m.model.name && x.role === 'shadow'));
    await this.#record(m, 'installed');
    this.models = [...keep, { ...entry, role, trial: true }];
    await this.#record(m, 'trial');
    if (this.behaviour === 'fail') {
      this.models = before;
      await this.#record(m, 'failed:non-finite', 'reverted');
    } else {
      this.models = [...keep, { ...entry, role }];
      await this.#record(m, 'committed');
    }
    await this.reportStatus();
  }

  async #record(m: Manifest, ...statuses: DeploymentStatusValue[]): Promise<void> {
    for (const status of statuses) {
      await this.publish('deployment', {
        deviceId: this.deviceId, seq: this.nextSeq(), time: new Date().toISOString(), deploymentId: m.deploymentId, model: m.model, status,
      });
    }
  }
}
