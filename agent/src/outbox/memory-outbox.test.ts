import { FakeClock } from '../testing/fake-clock.js';
import { MemoryOutbox } from './memory-outbox.js';
import { describeOutboxSuite } from './outbox.suite.js';

const clock = new FakeClock();

describeOutboxSuite('memory', {
  create(deviceId = 'dev-1') {
    const outbox = new MemoryOutbox({ deviceId, clock });
    outbox.start();
    return outbox;
  },
  reopen(outbox, deviceId = 'dev-1') {
    outbox.stop();
    const next = new MemoryOutbox({ deviceId, clock, store: (outbox as MemoryOutbox).store });
    next.start();
    return next;
  },
});
