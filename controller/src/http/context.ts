import type { Health } from '../broker/broker-link.js';
import type { DeviceEnrollment } from '../devices/enrollment.js';
import type { DevicesRepo } from '../db/devices-repo.js';
import type { IngestStatsRepo } from '../db/ingest-stats-repo.js';
import type { RecordsQuery } from '../db/records-query.js';
import type { InsightsApi } from '../quality/wiring.js';
import type { FleetApi } from '../rollouts/fleet-api.js';

/** What the routes read from (repositories over the open database) and the health checks of the parts. */
export interface ApiContext {
  devices: DevicesRepo;
  records: RecordsQuery;
  stats: IngestStatsRepo;
  /** One check per part, by name (broker, link, db, ingest). */
  health: Record<string, () => Health>;
  /** The Prometheus exposition served at /metrics (src/metrics/). */
  metrics?: { render(): Promise<{ contentType: string; body: string }> };
  /** Registry, trust, rollouts, audit, and the API tokens the guard checks (src/rollouts/parts.ts). */
  fleet?: FleetApi;
  /** Model quality, quality alerts, reliability reports, entered machine events (src/quality/wiring.ts). */
  insights?: InsightsApi;
  /** Device credentials: enroll, re-issue, revoke (src/devices/). */
  enrollment?: DeviceEnrollment;
}
