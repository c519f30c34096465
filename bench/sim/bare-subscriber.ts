/**
 * The baseline consumer of bench/ingest.ts: a bare mqtt.js client in its own process, subscribed QoS 1
 * to every device's upstream topics like the controller, doing nothing with a message but count it.
 * Prints `{"ready":true}` once subscribed and `{"count":n,"at":ms}` each time the count reaches a
 * multiple of argv[3]. argv[2]: broker URL.
 */
import mqtt from 'mqtt';
import { allDevicesFilter, upKinds } from '@pdm/protocol';

const [url, every] = [process.argv[2]!, Number(process.argv[3])];
const client = await mqtt.connectAsync(url, { clientId: `bench-bare-sub-${process.pid}`, clean: true, protocolVersion: 4, reconnectPeriod: 0 });
await client.subscribeAsync(upKinds.map((k) => allDevicesFilter(k)), { qos: 1 });
let count = 0;
client.on('message', () => {
  count++;
  if (count % every === 0) process.stdout.write(`${JSON.stringify({ count, at: Date.now() })}\n`);
});
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
process.once('SIGTERM', () => void client.endAsync().then(() => process.exit(0)));
