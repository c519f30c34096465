/** Builds the device status message (retained on up/status) from the live counters and the outbox. */
import type { Status } from '@pdm/protocol';
import type { Clock } from '../clock.js';
import type { Counters } from '../metrics/counters.js';
import { recordClasses, type Outbox } from '../outbox/outbox.js';
import { AGENT_VERSION } from '../version.js';

export interface Identity {
  readonly deviceId: string;
  readonly assetId: string;
  readonly assetClass: string;
  readonly site: string;
  /** Random per process start. */
  readonly bootId: string;
}

export interface StatusDeps {
  readonly identity: Identity;
  /** What runs now (active and shadow, with release, mode, trial flag and deployment): asked at each build. */
  readonly models: () => Status['models'];
  readonly counters: Counters;
  readonly outbox: Outbox;
  readonly clock: Clock;
}

export type StatusBuilder = (state: 'online' | 'offline', reason?: 'stopped' | 'lost') => Status;

export function statusBuilder(deps: StatusDeps): StatusBuilder {
  return (state, reason) => {
    const { identity, counters } = deps;
    const outbox = deps.outbox.stats();
    return {
      deviceId: identity.deviceId,
      state,
      time: new Date(deps.clock.now()).toISOString(),
      ...(reason === undefined ? {} : { reason }),
      agentVersion: AGENT_VERSION,
      bootId: identity.bootId,
      assetId: identity.assetId,
      assetClass: identity.assetClass,
      site: identity.site,
      models: deps.models(),
      lastSeq: outbox.lastSeq,
      counters: {
        readings: counters.readings,
        rejectedReadings: { ...counters.rejectedReadings },
        inferences: counters.inferences,
        alerts: counters.alerts,
        outboxDepth: outbox.depth,
        outboxBytes: outbox.bytes,
        delivered: outbox.delivered,
        dropped: outbox.dropped,
        outboxByClass: Object.fromEntries(recordClasses.map((c) => [c, outbox.byClass[c].depth])),
        ...(outbox.oldestPendingAt === undefined ? {} : { oldestPending: new Date(outbox.oldestPendingAt).toISOString() }),
        ...(outbox.quarantined.length === 0
          ? {}
          : { outboxQuarantined: outbox.quarantined.map((q) => ({ at: new Date(q.at).toISOString(), movedTo: q.movedTo, reason: q.reason })) }),
        statesNotStored: outbox.statesNotStored,
        stateStoredAt: isoOrNull(outbox.stateStoredAt),
        stateNotStoredSince: isoOrNull(outbox.stateNotStoredSince),
      },
    };
  };
}

/** A wall-clock time as the status carries it: always sent, null when there is none. */
const isoOrNull = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());
