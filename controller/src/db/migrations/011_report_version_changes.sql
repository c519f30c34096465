-- 011: which assets' model versions changed (their metric spans, or their quality windows that caught or
-- missed a failure), so the reliability report builds again only those assets' model-version entries
-- (reliability/version-impacts.ts keeps each asset's entries between renders; bench:reports, 10,000
-- assets: the modelVersions section was ~38% of the CPU of a report by class or site after new data).
--
-- Spans: every metric window moves its span's last_end. A trigger of its own per window (an upsert into
-- a change table) cost tens of microseconds per window in a trial on this machine, on ingest's hot path;
-- instead the span's own upsert (migration 009's trigger, made again here) writes the data generation
-- of its transaction into the row it writes anyway (a lookup of report_data's one row). A reader takes
-- the spans whose number is at least the highest it saw: report_data's generation only grows, so a span
-- written after the reader's snapshot has a number at least that (the boundary's rows are read twice,
-- which costs nothing but their re-read). Existing spans get 0: a reader without a number reads all.
ALTER TABLE asset_metric_spans ADD COLUMN n INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER metric_windows_span;
CREATE TRIGGER metric_windows_span AFTER INSERT ON metric_windows BEGIN
  INSERT INTO asset_metric_spans (asset_id, model_name, model_version, first_start, last_end, n)
    VALUES (NEW.asset_id, COALESCE(NEW.model_name, ''), COALESCE(NEW.model_version, ''), NEW.window_start, NEW.window_end,
      (SELECT generation FROM report_data WHERE id = 1))
    ON CONFLICT DO UPDATE SET first_start = MIN(first_start, excluded.first_start), last_end = MAX(last_end, excluded.last_end), n = excluded.n;
END;

-- The rest, rare, in a change table like migration 010's report_asset_changes: spans deleted by hand,
-- and quality windows that caught or missed a failure (the WHEN keeps every other window at its cost).
CREATE TABLE report_version_changes (
  asset_id TEXT PRIMARY KEY,
  n        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX report_version_changes_n ON report_version_changes (n);

CREATE TRIGGER report_version_changes_span_delete AFTER DELETE ON asset_metric_spans WHEN OLD.model_name <> '' BEGIN
  INSERT INTO report_version_changes (asset_id, n) VALUES (OLD.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_version_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
CREATE TRIGGER report_version_changes_quality_insert AFTER INSERT ON quality_windows
  WHEN NEW.role = 'active' AND (NEW.caught > 0 OR NEW.missed > 0) BEGIN
  INSERT INTO report_version_changes (asset_id, n) VALUES (NEW.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_version_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
CREATE TRIGGER report_version_changes_quality_delete AFTER DELETE ON quality_windows
  WHEN OLD.role = 'active' AND (OLD.caught > 0 OR OLD.missed > 0) BEGIN
  INSERT INTO report_version_changes (asset_id, n) VALUES (OLD.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_version_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
