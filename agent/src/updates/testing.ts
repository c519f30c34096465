/**
 * Test helpers for signed updates: Ed25519 signers (node:crypto), manifests over real artifact files,
 * a chunk server that answers `up/fetch` over a real MQTT broker as the controller would (with hooks
 * to misbehave), and a deliberately slow ONNX model with the Azure PdM reference model's interface.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type MqttClient } from 'mqtt';
import onnxProto from 'onnx-proto';
import {
  KEYSET_PAYLOAD_TYPE, MANIFEST_PAYLOAD_TYPE, allDevicesFilter, decodePayload, downTopic, keyIdOf, signEnvelope, type Chunk, type Envelope,
  type FetchRequest, type KeySet, type Manifest, type SigningKey,
} from '@pdm/protocol';

export interface Signer extends SigningKey {
  readonly publicKeyPem: string;
}

export function newSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { keyid: keyIdOf(publicKey), privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

export function trustConfig(signers: readonly Signer[], threshold = 1): { keys: { keyid: string; publicKeyPem: string }[]; threshold: number } {
  return { keys: signers.map((s) => ({ keyid: s.keyid, publicKeyPem: s.publicKeyPem })), threshold };
}

export function signManifest(manifest: Manifest, signers: readonly Signer[], payloadType = MANIFEST_PAYLOAD_TYPE): Envelope {
  return signEnvelope(payloadType, Buffer.from(JSON.stringify(manifest), 'utf8'), signers);
}

export function signKeySet(keySet: KeySet, signers: readonly Signer[]): Envelope {
  return signEnvelope(KEYSET_PAYLOAD_TYPE, Buffer.from(JSON.stringify(keySet), 'utf8'), signers);
}

export const sha256Of = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The artifacts of a model directory (model.onnx and card.json) with their bytes. */
export function artifactsOf(dir: string): { artifacts: Manifest['artifacts']; bytes: Map<string, Buffer> } {
  const bytes = new Map<string, Buffer>();
  const artifacts = ['model.onnx', 'card.json'].map((name) => {
    const data = readFileSync(join(dir, name));
    bytes.set(sha256Of(data), data);
    return { name, sha256: sha256Of(data), length: data.byteLength };
  });
  return { artifacts, bytes };
}

/** A manifest for the model directory `dir`, valid for a day from `now`, targeting `deviceId`. */
export function manifestFor(dir: string, o: { deviceId: string; release: number; deploymentId?: string; mode?: Manifest['mode']; now?: number }): Manifest {
  const card = JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8')) as { name: string; version: string };
  const now = o.now ?? Date.now();
  return {
    schemaVersion: 1,
    deploymentId: o.deploymentId ?? `d-${o.release}`,
    model: { name: card.name, version: card.version },
    release: o.release,
    artifacts: artifactsOf(dir).artifacts,
    target: { deviceIds: [o.deviceId] },
    mode: o.mode ?? 'alert',
    created: new Date(now - 60_000).toISOString(),
    expires: new Date(now + 86_400_000).toISOString(),
    minAgentVersion: '0.1.0',
  };
}

/** What a misbehaving server sends instead of the true answer; undefined: answer truly; 'drop': no answer. */
export type ChunkTamper = (request: FetchRequest, truth: Buffer | undefined) => Chunk | 'drop' | undefined;

/**
 * The controller's chunk server, as an MQTT client of the test broker: answers every `up/fetch` with
 * the bytes it holds by sha256 (`error` NOT_FOUND otherwise), never more than asked.
 */
export class ChunkServer {
  readonly blobs = new Map<string, Buffer>();
  readonly requests: FetchRequest[] = [];
  tamper: ChunkTamper = () => undefined;
  private client: MqttClient | undefined;

  async start(brokerUrl: string): Promise<void> {
    const client = connect(brokerUrl, { clientId: `chunk-server-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 200 });
    this.client = client;
    client.on('message', (topic, payload) => void this.answer(topic, payload));
    client.on('connect', () => void client.subscribeAsync(allDevicesFilter('fetch'), { qos: 1 }));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    await client.subscribeAsync(allDevicesFilter('fetch'), { qos: 1 });
  }

  add(bytes: Map<string, Buffer>): void {
    for (const [sha, data] of bytes) this.blobs.set(sha, data);
  }

  /** Sends a command to a device, as the controller would. */
  async command(deviceId: string, command: Record<string, unknown>): Promise<void> {
    await this.client!.publishAsync(downTopic(deviceId, 'cmd'), JSON.stringify(command), { qos: 1 });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true);
    this.client = undefined;
  }

  private async answer(topic: string, payload: Buffer): Promise<void> {
    const deviceId = topic.split('/')[2]!;
    let request: FetchRequest;
    try {
      request = decodePayload('fetch', payload, deviceId);
    } catch {
      return;
    }
    this.requests.push(request);
    const blob = this.blobs.get(request.sha256);
    const tampered = this.tamper(request, blob);
    if (tampered === 'drop') return;
    const chunk: Chunk =
      tampered ??
      (blob === undefined || request.offset >= blob.byteLength
        ? { requestId: request.requestId, status: 'error', sha256: request.sha256, error: { code: 'NOT_FOUND', message: 'no such artifact' } }
        : {
            requestId: request.requestId,
            status: 'ok',
            sha256: request.sha256,
            offset: request.offset,
            total: blob.byteLength,
            data: blob.subarray(request.offset, request.offset + request.length).toString('base64'),
          });
    await this.client?.publishAsync(downTopic(deviceId, 'chunk'), JSON.stringify(chunk), { qos: 1 }).catch(() => undefined);
  }

  /** Answers an earlier request truly now (e.g. one the tamper dropped): a controller whose queue held it. */
  async answerLate(request: FetchRequest): Promise<void> {
    const blob = this.blobs.get(request.sha256)!;
    const chunk: Chunk = {
      requestId: request.requestId, status: 'ok', sha256: request.sha256, offset: request.offset, total: blob.byteLength,
      data: blob.subarray(request.offset, request.offset + request.length).toString('base64'),
    };
    await this.client!.publishAsync(downTopic(request.deviceId, 'chunk'), JSON.stringify(chunk), { qos: 1 });
  }
}

const { onnx } = onnxProto;
const FLOAT = 1;

/**
 * A model with the Azure PdM reference model's interface (input `features` [N, 28], output
 * `probabilities` [N, 2]) that is slow on purpose: `layers` matrix products of width `width` per row.
 * Its scores are finite (an average of the inputs through a softmax). Writes model.onnx and a card
 * (copied from `cardFrom`, with `version` and the new sha256) into `dir`.
 */
export function writeSlowModel(dir: string, cardFrom: string, version: string, layers = 200, width = 512): string {
  const features = 28;
  const dims = (d: (number | string)[]) => ({ tensorType: { elemType: FLOAT, shape: { dim: d.map((x) => (typeof x === 'string' ? { dimParam: x } : { dimValue: x })) } } });
  const node = [{ opType: 'MatMul', input: ['features', 'W0'], output: ['h0'] }];
  for (let i = 1; i <= layers; i++) node.push({ opType: 'MatMul', input: [`h${i - 1}`, 'W'], output: [`h${i}`] });
  node.push({ opType: 'MatMul', input: [`h${layers}`, 'Wout'], output: ['logits'] }, { opType: 'Softmax', input: ['logits'], output: ['probabilities'] });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'pdm-agent-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'slow',
      node: node.map((n) => (n.opType === 'Softmax' ? { ...n, attribute: [{ name: 'axis', type: 2, i: 1 }] } : n)),
      initializer: [
        { name: 'W0', dims: [features, width], dataType: FLOAT, floatData: new Array(features * width).fill(1 / features) },
        { name: 'W', dims: [width, width], dataType: FLOAT, floatData: new Array(width * width).fill(1 / width) },
        { name: 'Wout', dims: [width, 2], dataType: FLOAT, floatData: new Array(width * 2).fill(0).map((_, i) => (i % 2 === 0 ? 0.001 : -0.001)) },
      ],
      input: [{ name: 'features', type: dims(['N', features]) }],
      output: [{ name: 'probabilities', type: dims(['N', 2]) }],
    },
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), bytes);
  const card = JSON.parse(readFileSync(join(cardFrom, 'card.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'card.json'), JSON.stringify({ ...card, version, variant: 'degraded', sha256: sha256Of(bytes) }, null, 2));
  return dir;
}
