import { FakeClock } from '../testing/fake-clock.js';
import { MemoryOutbox } from './memory-outbox.js';
import { describeOutboxSuite } from './outbox.suite.js';

const clock = new FakeClock();

describeOutboxSuite('memory', {
  clock,
  create({ deviceId = 'dev-1', caps } = {}) {
    const outbox = new MemoryOutbox({ deviceId, clock, ...(caps === undefined ? {} : { caps }) });
    outbox.start();
    return outbox;
  },
  reopen(outbox, { deviceId = 'dev-1', caps } = {}) {
    outbox.stop();
    const next = new MemoryOutbox({ deviceId, clock, store: (outbox as MemoryOutbox).store, ...(caps === undefined ? {} : { caps }) });
    next.start();
    return next;
  },
});
