-- 004: model quality and drift windows (from the devices' quality and drift records), quality alerts,
-- and machine events entered by people or a CMMS with their delivery to the asset's device.
-- Quality and drift rows are derived from record_payloads (002), which stays the record of what the
-- device sent: at start the controller re-derives any row a crash kept from being written.
-- Times from devices are ISO 8601 strings (TEXT, they sort); controller times are ms since the epoch.

CREATE TABLE quality_windows (
  device_id     TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  asset_id      TEXT NOT NULL,
  model_name    TEXT NOT NULL,
  model_version TEXT NOT NULL,
  role          TEXT NOT NULL,
  window_start  TEXT NOT NULL,
  window_end    TEXT NOT NULL,
  horizon_hours REAL NOT NULL,
  tp            INTEGER NOT NULL,
  fp            INTEGER NOT NULL,
  tn            INTEGER NOT NULL,
  fn            INTEGER NOT NULL,
  caught        INTEGER NOT NULL,
  missed        INTEGER NOT NULL,
  false_alarms  INTEGER NOT NULL,
  -- JSON array of warning lead times of caught failures, hours
  lead_hours    TEXT NOT NULL,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX quality_windows_model ON quality_windows (model_name, model_version, window_start);
CREATE INDEX quality_windows_asset ON quality_windows (asset_id, window_start);

CREATE TABLE drift_windows (
  device_id     TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  asset_id      TEXT NOT NULL,
  model_name    TEXT NOT NULL,
  model_version TEXT NOT NULL,
  role          TEXT NOT NULL,
  window_start  TEXT NOT NULL,
  window_end    TEXT NOT NULL,
  n             INTEGER NOT NULL,
  -- PSI of the score (NULL when the card has no score reference)
  score_psi     REAL,
  -- largest feature PSI and its feature (NULL without feature references)
  max_feature_psi REAL,
  max_feature   TEXT,
  -- JSON object feature -> PSI
  features      TEXT NOT NULL,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX drift_windows_model ON drift_windows (model_name, model_version, window_start);

-- One row per alert condition (kind, model version, role, metric); raised again only after it resolved.
CREATE TABLE quality_alerts (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  -- 'precision-drop', 'recall-drop' or 'drift'
  kind          TEXT NOT NULL,
  model_name    TEXT NOT NULL,
  model_version TEXT NOT NULL,
  role          TEXT NOT NULL,
  -- precision, recall, or the drifting feature / 'score'
  metric        TEXT NOT NULL,
  value         REAL NOT NULL,
  -- the baseline value and where it came from ('card', 'previous:<version>'), or the PSI threshold
  baseline      REAL NOT NULL,
  baseline_source TEXT NOT NULL,
  threshold     REAL NOT NULL,
  detail        TEXT NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('active', 'resolved')),
  raised_at     INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  resolved_at   INTEGER,
  -- webhook delivery: NULL until the POST succeeded (or when no webhook is configured)
  notified_at   INTEGER,
  notify_attempts INTEGER NOT NULL DEFAULT 0,
  notify_error  TEXT
);
CREATE UNIQUE INDEX quality_alerts_active ON quality_alerts (kind, model_name, model_version, role, metric) WHERE state = 'active';

-- Events entered through POST /api/v1/events (people, a CMMS). Failures and maintenance are points in
-- time with an optional end (back in service); downtime is an interval with a cause.
CREATE TABLE machine_events_entered (
  event_id   TEXT PRIMARY KEY,
  asset_id   TEXT NOT NULL,
  type       TEXT NOT NULL CHECK (type IN ('failure', 'maintenance', 'downtime')),
  -- failure/maintenance: when it happened; downtime: when the asset stopped
  start_at   TEXT NOT NULL,
  -- when the asset was back in service (NULL: not known; reports assume a repair time)
  end_at     TEXT,
  cause      TEXT CHECK (cause IN ('unplanned', 'planned', 'other')),
  component  TEXT,
  source     TEXT NOT NULL CHECK (source IN ('operator', 'cmms')),
  note       TEXT,
  entered_at INTEGER NOT NULL,
  entered_by TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX machine_events_entered_asset ON machine_events_entered (asset_id, start_at);

-- Each entered event becomes one or two machine-event commands (downtime: start and end), sent to the
-- asset's device until it answers; resent after the device comes back online (reconciliation), never
-- left to the broker's queues.
CREATE TABLE event_deliveries (
  command_id   TEXT PRIMARY KEY,
  event_id     TEXT NOT NULL REFERENCES machine_events_entered (event_id),
  -- the machine event the device records: failure, maintenance, downtime-start, downtime-end
  type         TEXT NOT NULL,
  at           TEXT NOT NULL,
  asset_id     TEXT NOT NULL,
  -- the device that acknowledged it (NULL until then)
  device_id    TEXT,
  delivered_at INTEGER,
  attempts     INTEGER NOT NULL DEFAULT 0,
  last_attempt_at INTEGER,
  last_error   TEXT
) WITHOUT ROWID;
CREATE INDEX event_deliveries_pending ON event_deliveries (asset_id) WHERE delivered_at IS NULL;
