/**
 * A typed set of listeners. Parts expose `onX(listener): unsubscribe` instead of string-keyed events,
 * so a listener's arguments are checked at compile time. A throwing listener cannot break the emitter.
 */
export class Listeners<A extends unknown[]> {
  private readonly set = new Set<(...args: A) => void>();

  /** `onError` receives what a listener threw (log it); the other listeners still run. */
  constructor(private readonly onError: (err: unknown) => void) {}

  add(listener: (...args: A) => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  emit(...args: A): void {
    for (const listener of this.set) {
      try {
        listener(...args);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
