-- 001: devices and presence, records stored idempotently on (device_id, seq) with their per-kind rows,
-- sequence progress for gap detection, ingest counters, desired state and reconciliation results.
-- Times written by the controller are milliseconds since the epoch (INTEGER); times that come from a
-- device are kept as the ISO 8601 strings it sent (TEXT), which sort correctly.

CREATE TABLE devices (
  device_id         TEXT PRIMARY KEY,
  asset_id          TEXT,
  asset_class       TEXT,
  site              TEXT,
  state             TEXT NOT NULL DEFAULT 'unknown' CHECK (state IN ('unknown', 'online', 'offline')),
  -- why the device is offline: 'stopped' (clean stop), 'lost' (last will), 'timeout' (heartbeat timeout)
  state_reason      TEXT,
  state_changed_at  INTEGER,
  -- controller time of the last live message of any kind (retained replays do not count)
  last_seen_at      INTEGER,
  status_time       TEXT,
  boot_id           TEXT,
  agent_version     TEXT,
  models            TEXT NOT NULL DEFAULT '[]',
  last_seq_reported INTEGER,
  counters          TEXT,
  first_seen_at     INTEGER NOT NULL
);

CREATE TABLE records (
  device_id      TEXT NOT NULL,
  seq            INTEGER NOT NULL,
  kind           TEXT NOT NULL,
  time           TEXT NOT NULL,
  received_at    INTEGER NOT NULL,
  -- sha256 of the payload bytes: a resend with the same seq but other bytes is a conflict, not a duplicate
  payload_sha256 TEXT NOT NULL,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;

CREATE TABLE record_progress (
  device_id      TEXT PRIMARY KEY,
  -- highest seq such that 1..seq are all stored
  contiguous_seq INTEGER NOT NULL DEFAULT 0,
  max_seq        INTEGER NOT NULL DEFAULT 0,
  stored         INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE predictions (
  device_id     TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  idx           INTEGER NOT NULL,
  asset_id      TEXT NOT NULL,
  model_name    TEXT NOT NULL,
  model_version TEXT NOT NULL,
  role          TEXT NOT NULL,
  horizon_hours REAL,
  threshold     REAL NOT NULL,
  t             TEXT NOT NULL,
  score         REAL NOT NULL,
  alert         INTEGER NOT NULL,
  PRIMARY KEY (device_id, seq, idx)
) WITHOUT ROWID;
CREATE INDEX predictions_model ON predictions (model_name, model_version, t);

CREATE TABLE alerts (
  device_id     TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  time          TEXT NOT NULL,
  asset_id      TEXT NOT NULL,
  model_name    TEXT NOT NULL,
  model_version TEXT NOT NULL,
  score         REAL NOT NULL,
  threshold     REAL NOT NULL,
  severity      TEXT NOT NULL,
  window_end    TEXT NOT NULL,
  message       TEXT NOT NULL,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;

CREATE TABLE machine_events (
  device_id TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  time      TEXT NOT NULL,
  asset_id  TEXT NOT NULL,
  type      TEXT NOT NULL,
  at        TEXT NOT NULL,
  component TEXT,
  cause     TEXT,
  source    TEXT NOT NULL,
  note      TEXT,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX machine_events_asset_at ON machine_events (asset_id, at);

CREATE TABLE metric_windows (
  device_id         TEXT NOT NULL,
  seq               INTEGER NOT NULL,
  time              TEXT NOT NULL,
  asset_id          TEXT NOT NULL,
  window_start      TEXT NOT NULL,
  window_end        TEXT NOT NULL,
  readings          INTEGER NOT NULL,
  rejected_readings TEXT NOT NULL,
  inferences        INTEGER NOT NULL,
  inference_errors  INTEGER NOT NULL,
  alerts            INTEGER NOT NULL,
  latency_p50       REAL,
  latency_p95       REAL,
  latency_max       REAL,
  model_name        TEXT,
  model_version     TEXT,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;

CREATE TABLE deployment_status (
  device_id     TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  time          TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  model_name    TEXT NOT NULL,
  model_version TEXT NOT NULL,
  status        TEXT NOT NULL,
  detail        TEXT,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX deployment_status_deployment ON deployment_status (deployment_id, device_id);

-- one row per upstream topic kind
CREATE TABLE ingest_totals (
  kind       TEXT PRIMARY KEY,
  -- valid messages of this kind
  accepted   INTEGER NOT NULL DEFAULT 0,
  -- records stored for the first time (record kinds only)
  stored     INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0,
  conflicts  INTEGER NOT NULL DEFAULT 0
);

-- device_id is '' when the topic names no valid device (a valid deviceId is never empty)
CREATE TABLE invalid_payloads (
  device_id    TEXT NOT NULL,
  kind         TEXT NOT NULL,
  code         TEXT NOT NULL,
  count        INTEGER NOT NULL,
  first_at     INTEGER NOT NULL,
  last_at      INTEGER NOT NULL,
  last_message TEXT NOT NULL,
  PRIMARY KEY (device_id, kind, code)
) WITHOUT ROWID;

-- what the controller wants each device to run; filled by rollouts
CREATE TABLE desired_state (
  device_id  TEXT PRIMARY KEY,
  models     TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL
);

-- the last comparison of desired with reported state, per device
CREATE TABLE reconcile_state (
  device_id  TEXT PRIMARY KEY,
  checked_at INTEGER NOT NULL,
  status     TEXT NOT NULL CHECK (status IN ('unmanaged', 'in-sync', 'drift')),
  diff       TEXT NOT NULL
);
