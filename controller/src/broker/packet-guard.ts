/**
 * Refuses MQTT packets larger than a limit before they are buffered. aedes' parser (mqtt-packet)
 * collects a whole packet in memory, whatever the 4-byte remaining length announces (up to 256 MB
 * [MQTT-2.2.3]), before any hook can look at it; this stream reads each fixed header as the bytes go
 * by and cuts the connection as soon as a packet announces more than `maxBytes`. Topic-level limits
 * (protocol `maxBytes`) are checked later by ingest; this only bounds memory per connection.
 *
 * Writes pass through to the connection; what was written while this stream was corked goes out in
 * one write of a TCP or TLS connection (_writev), see there.
 */
import { Duplex } from 'node:stream';

const enum State { Header, Length, Body }

export class PacketSizeGuard extends Duplex {
  readonly #inner: Duplex;
  readonly #maxBytes: number;
  readonly #onOversize: (announced: number) => void;
  #state = State.Header;
  #length = 0;
  #multiplier = 1;
  #remaining = 0;

  constructor(inner: Duplex, maxBytes: number, onOversize: (announced: number) => void) {
    super();
    this.#inner = inner;
    this.#maxBytes = maxBytes;
    this.#onOversize = onOversize;
    inner.on('data', (chunk: Buffer) => {
      if (!this.#scan(chunk)) return;
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err) => this.destroy(err));
    inner.on('close', () => this.destroy());
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#inner.write(chunk, callback);
  }

  /**
   * What was written while this stream was corked, as one write of the connection: one writev
   * syscall on a TCP or TLS socket. The WebSocket stream (ws createWebSocketStream) has no _writev of
   * its own, so there the pieces still go on one at a time, each a frame. mqtt-packet corks the
   * stream for each packet it writes and uncorks it on the next tick, so every PUBACK of a settled
   * batch (and each packet's 2-3 pieces) collects here;
   * passed on one by one, each piece waited for the previous one's write to complete and cost a
   * syscall of its own: ~25% of the embedded broker's thread under bench:ingest (bench/RESULTS.md).
   */
  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    const inner = this.#inner;
    inner.cork();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) inner.write(chunks[i]!.chunk);
    inner.write(chunks[last]!.chunk, callback);
    inner.uncork();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#inner.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#inner.destroy();
    callback(err);
  }

  /** Follows packet boundaries through the chunk; false (and the connection cut) on an oversized packet. */
  #scan(chunk: Buffer): boolean {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === State.Header) {
        i += 1;
        this.#state = State.Length;
        this.#length = 0;
        this.#multiplier = 1;
      } else if (this.#state === State.Length) {
        const byte = chunk[i++]!;
        this.#length += (byte & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        if ((byte & 0x80) !== 0) continue; // [MQTT-2.2.3] more length bytes follow
        if (this.#length > this.#maxBytes) {
          this.#onOversize(this.#length);
          this.destroy();
          return false;
        }
        this.#remaining = this.#length;
        this.#state = this.#remaining === 0 ? State.Header : State.Body;
      } else {
        const take = Math.min(this.#remaining, chunk.length - i);
        i += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = State.Header;
      }
    }
    return true;
  }
}
