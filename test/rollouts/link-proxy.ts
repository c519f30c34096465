/**
 * A TCP proxy between agents and the controller's broker whose link can be cut: `drop(ms)` destroys
 * every connection and refuses new ones for `ms`, like a plant network going down (the Mender test:
 * "network dropped and restored 5 times during one deployment").
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

export class LinkProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private downUntil = 0;
  drops = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<string> {
    this.server = createServer((client) => {
      if (Date.now() < this.downUntil) {
        client.destroy();
        return;
      }
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new TypeError('proxy has no TCP address');
    return `mqtt://127.0.0.1:${address.port}`;
  }

  /** Cuts every connection now and refuses new ones for `ms`. */
  drop(ms: number): void {
    this.drops += 1;
    this.downUntil = Date.now() + ms;
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server !== undefined) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
