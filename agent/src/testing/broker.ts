/**
 * A real MQTT broker for tests: aedes over TCP on a port the OS picks. It records every publish from a
 * client, and can be stopped (dropping every connection without a goodbye) and started again on the
 * same port to simulate a broker restart. Its persistence is in memory, so a restart forgets sessions
 * and retained messages, as a real restart without persistence would.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';

export interface SeenPublish {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  readonly retain: boolean;
  readonly clientId: string;
}

export class TestBroker {
  readonly published: SeenPublish[] = [];
  /** Called for every client publish; a test may stop the broker from here. */
  onPublish: (p: SeenPublish) => void = () => undefined;
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  async start(): Promise<void> {
    const broker = await Aedes.createBroker();
    broker.on('publish', (packet, client) => {
      if (client === null) return;
      const seen: SeenPublish = {
        topic: packet.topic,
        payload: Buffer.from(packet.payload),
        qos: packet.qos,
        retain: packet.retain,
        clientId: client.id,
      };
      this.published.push(seen);
      this.onPublish(seen);
    });
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      broker.handle(socket);
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.broker = broker;
    this.server = server;
  }

  /** Drops every client connection abruptly (no DISCONNECT), so last wills fire, but keeps serving. */
  dropClients(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async stop(): Promise<void> {
    const { broker, server } = this;
    if (broker === undefined || server === undefined) return;
    this.broker = undefined;
    this.server = undefined;
    const closed = once(server, 'close');
    server.close();
    this.dropClients();
    await closed;
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  }

  /** Publishes seen on topics ending in `suffix`, parsed as JSON. */
  payloads(suffix: string): Record<string, unknown>[] {
    return this.published
      .filter((p) => p.topic.endsWith(suffix))
      .map((p) => JSON.parse(p.payload.toString('utf8')) as Record<string, unknown>);
  }
}

/** A started TestBroker whose stop is handed to the test's cleanup (`cleanup.push`). */
export async function startTestBroker(onCleanup: (stop: () => Promise<void>) => unknown): Promise<TestBroker> {
  const broker = new TestBroker();
  await broker.start();
  onCleanup(() => broker.stop());
  return broker;
}
