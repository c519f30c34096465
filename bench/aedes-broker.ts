/**
 * An aedes broker in its own process for bench/outbox.ts, so the broker's work does not share the
 * event loop of the client being measured. Prints `{"port": n}` once listening; stops on SIGTERM.
 * A subscriber-less broker, like the embedded one's QoS 1 path up to the PUBACK.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

const broker = await Aedes.createBroker({ concurrency: 1000 });
const server = createServer(broker.handle);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
process.once('SIGTERM', () => {
  server.close();
  broker.close(() => process.exit(0));
});
