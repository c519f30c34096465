-- 012: a prediction batch record is stored as one row instead of one row per prediction (issue 9).
-- Agents send 64 predictions per batch: one row each (with its predictions_model index entry) was
-- most of ingest's statements and of the database's size. Readers need the batch's columns (the
-- rollout's evidence sums rows and alerts per model version, role and device) or a device's newest
-- predictions (RecordsQuery expands its newest batches); none reads a single prediction by key.
--
-- A rowid table keyed by UNIQUE (device_id, seq), not WITHOUT ROWID: the points of a 64-prediction
-- batch are ~3 KB, past the ~1 KB a WITHOUT ROWID (index) b-tree keeps on its page, so each row
-- spilled into an overflow page; as a rowid row it stays on its page (measured: cheaper to write,
-- 65 against 74 bytes per prediction).
CREATE TABLE prediction_batches (
  device_id     TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  asset_id      TEXT NOT NULL,
  model_name    TEXT NOT NULL,
  model_version TEXT NOT NULL,
  role          TEXT NOT NULL,
  horizon_hours REAL,
  threshold     REAL NOT NULL,
  rows          INTEGER NOT NULL,
  -- predictions whose alert is true
  alerts        INTEGER NOT NULL,
  -- JSON array of [t, score, alert (0 or 1)], one per prediction, in the order the device sent them
  -- (db/prediction-points.ts reads and writes it)
  points        TEXT NOT NULL,
  UNIQUE (device_id, seq)
);
-- Covering for the rollout's evidence (rows and alerts of a version and role on a set of devices)
-- and the quality API's "is this version known" check.
CREATE INDEX prediction_batches_model ON prediction_batches (model_name, model_version, role, device_id, rows, alerts);

-- Every stored prediction moves, so an upgraded controller loses nothing. One batch's rows share
-- every column but idx, t, score and alert (they were written from one record).
-- Relies on the SQLite better-sqlite3 12 bundles (3.53): an aggregate's ORDER BY needs 3.44 or later,
-- and its JSON writes a REAL with up to 17 significant digits, so every score reads back as the same
-- double (upgrades.test.ts checks every moved row, 17-digit values included).
INSERT INTO prediction_batches (device_id, seq, asset_id, model_name, model_version, role, horizon_hours, threshold,
    rows, alerts, points)
  SELECT device_id, seq, asset_id, model_name, model_version, role, horizon_hours, threshold,
    COUNT(*), SUM(alert), json_group_array(json_array(t, score, alert) ORDER BY idx)
  FROM predictions GROUP BY device_id, seq;

DROP TABLE predictions;
