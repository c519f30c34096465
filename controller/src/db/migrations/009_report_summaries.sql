-- 009: summaries the reliability report and the quality-alert round read instead of every window of the
-- fleet (bench:reports, 10,000 devices x 90 days: both re-read ~900,000 windows per report or round).
-- Triggers keep them in the same transaction as the rows they summarise, whoever stores a row (ingest,
-- the quality listener, backfill), so a summary is never behind a committed window. Windows are never
-- updated or deleted (INSERT OR IGNORE), so insert triggers are all they need. Existing rows are
-- summarised here, so a database migrated from 008 gives the same figures as a fresh one.

-- Per asset and model version: the first window start and the last window end of its metric windows
-- (reliability/source.ts: the period the data covers, and which versions ran on each asset).
-- Windows without a model are kept under model '' and version '': they count for the period only.
CREATE TABLE asset_metric_spans (
  asset_id      TEXT NOT NULL,
  model_name    TEXT NOT NULL,
  model_version TEXT NOT NULL,
  first_start   TEXT NOT NULL,
  last_end      TEXT NOT NULL,
  PRIMARY KEY (asset_id, model_name, model_version)
) WITHOUT ROWID;

INSERT INTO asset_metric_spans (asset_id, model_name, model_version, first_start, last_end)
  SELECT asset_id, COALESCE(model_name, ''), COALESCE(model_version, ''), MIN(window_start), MAX(window_end)
  FROM metric_windows GROUP BY asset_id, COALESCE(model_name, ''), COALESCE(model_version, '');

CREATE TRIGGER metric_windows_span AFTER INSERT ON metric_windows BEGIN
  INSERT INTO asset_metric_spans (asset_id, model_name, model_version, first_start, last_end)
    VALUES (NEW.asset_id, COALESCE(NEW.model_name, ''), COALESCE(NEW.model_version, ''), NEW.window_start, NEW.window_end)
    ON CONFLICT DO UPDATE SET first_start = MIN(first_start, excluded.first_start), last_end = MAX(last_end, excluded.last_end);
END;

-- Caught and missed failures per asset and version come from the few quality windows that have any
-- (most windows have none): the report reads those through this partial index, not every window.
CREATE INDEX quality_windows_caught_missed ON quality_windows (asset_id, model_name, model_version, window_start, caught, missed)
  WHERE role = 'active' AND (caught > 0 OR missed > 0);

-- Per model version and role: the sums of its quality windows' confusion counts (quality/alerts.ts
-- compares precision and recall with their baselines from these sums, exact for any set of windows).
CREATE TABLE quality_version_totals (
  model_name    TEXT NOT NULL,
  model_version TEXT NOT NULL,
  role          TEXT NOT NULL,
  windows       INTEGER NOT NULL,
  tp            INTEGER NOT NULL,
  fp            INTEGER NOT NULL,
  tn            INTEGER NOT NULL,
  fn            INTEGER NOT NULL,
  PRIMARY KEY (model_name, model_version, role)
) WITHOUT ROWID;

INSERT INTO quality_version_totals (model_name, model_version, role, windows, tp, fp, tn, fn)
  SELECT model_name, model_version, role, COUNT(*), SUM(tp), SUM(fp), SUM(tn), SUM(fn) FROM quality_windows
  GROUP BY model_name, model_version, role;

CREATE TRIGGER quality_windows_totals AFTER INSERT ON quality_windows BEGIN
  INSERT INTO quality_version_totals (model_name, model_version, role, windows, tp, fp, tn, fn)
    VALUES (NEW.model_name, NEW.model_version, NEW.role, 1, NEW.tp, NEW.fp, NEW.tn, NEW.fn)
    ON CONFLICT DO UPDATE SET windows = windows + 1, tp = tp + excluded.tp, fp = fp + excluded.fp, tn = tn + excluded.tn, fn = fn + excluded.fn;
END;

-- The controller deletes no window; a row deleted by hand (and re-derived by backfill) still counts once.
CREATE TRIGGER quality_windows_totals_delete AFTER DELETE ON quality_windows BEGIN
  UPDATE quality_version_totals SET windows = windows - 1, tp = tp - OLD.tp, fp = fp - OLD.fp, tn = tn - OLD.tn, fn = fn - OLD.fn
    WHERE model_name = OLD.model_name AND model_version = OLD.model_version AND role = OLD.role;
END;

-- Drift windows in the order they were stored, so the alert round reads only those stored since its
-- last round (AUTOINCREMENT: numbers are never reused). Existing windows are numbered in key order.
CREATE TABLE drift_arrivals (
  n         INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL,
  seq       INTEGER NOT NULL
);

INSERT INTO drift_arrivals (device_id, seq) SELECT device_id, seq FROM drift_windows ORDER BY device_id, seq;

CREATE TRIGGER drift_windows_arrival AFTER INSERT ON drift_windows BEGIN
  INSERT INTO drift_arrivals (device_id, seq) VALUES (NEW.device_id, NEW.seq);
END;

-- What a reliability report reads changed: a committed generation number, so a rendered report can be
-- kept and served again until then (reliability/report-jobs.ts). Every table the report reads bumps it
-- in the writing transaction: metric windows (the period, the versions), device events, entered events,
-- the quality windows that caught or missed a failure, and the devices' assets, classes and sites (the
-- class and site of an asset are its device's seen last, so a device seen again bumps it when it shares
-- its asset with another device).
CREATE TABLE report_data (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL
);
INSERT INTO report_data (id, generation) VALUES (1, 1);
CREATE INDEX devices_asset ON devices (asset_id);

CREATE TRIGGER report_data_metric_windows AFTER INSERT ON metric_windows BEGIN
  UPDATE report_data SET generation = generation + 1;
END;
CREATE TRIGGER report_data_machine_events AFTER INSERT ON machine_events BEGIN
  UPDATE report_data SET generation = generation + 1;
END;
CREATE TRIGGER report_data_entered_insert AFTER INSERT ON machine_events_entered BEGIN
  UPDATE report_data SET generation = generation + 1;
END;
CREATE TRIGGER report_data_entered_update AFTER UPDATE ON machine_events_entered BEGIN
  UPDATE report_data SET generation = generation + 1;
END;
CREATE TRIGGER report_data_entered_delete AFTER DELETE ON machine_events_entered BEGIN
  UPDATE report_data SET generation = generation + 1;
END;
CREATE TRIGGER report_data_quality_windows AFTER INSERT ON quality_windows
  WHEN NEW.role = 'active' AND (NEW.caught > 0 OR NEW.missed > 0) BEGIN
  UPDATE report_data SET generation = generation + 1;
END;
CREATE TRIGGER report_data_devices_insert AFTER INSERT ON devices WHEN NEW.asset_id IS NOT NULL BEGIN
  UPDATE report_data SET generation = generation + 1;
END;
CREATE TRIGGER report_data_devices_delete AFTER DELETE ON devices WHEN OLD.asset_id IS NOT NULL BEGIN
  UPDATE report_data SET generation = generation + 1;
END;
CREATE TRIGGER report_data_devices_update AFTER UPDATE OF asset_id, asset_class, site, last_seen_at ON devices
  WHEN OLD.asset_id IS NOT NEW.asset_id OR OLD.asset_class IS NOT NEW.asset_class OR OLD.site IS NOT NEW.site
    OR (NEW.asset_id IS NOT NULL AND OLD.last_seen_at IS NOT NEW.last_seen_at
      AND EXISTS (SELECT 1 FROM devices o WHERE o.asset_id = NEW.asset_id AND o.device_id <> NEW.device_id)) BEGIN
  UPDATE report_data SET generation = generation + 1;
END;
