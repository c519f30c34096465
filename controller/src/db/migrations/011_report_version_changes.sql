-- 011: which assets' model versions changed (their metric spans, or their quality windows that caught or
-- missed a failure), so the reliability report builds again only those assets' model-version entries
-- (reliability/version-impacts.ts keeps each asset's entries between renders; bench:reports, 10,000
-- assets: the modelVersions section was ~38% of the CPU of a report by class or site after new data).
-- One row per asset with the number of its latest change, as migration 010's report_asset_changes for
-- events. Existing rows need no row: a reader without a number reads every asset.
CREATE TABLE report_version_changes (
  asset_id TEXT PRIMARY KEY,
  n        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX report_version_changes_n ON report_version_changes (n);

-- Windows without a model (model '') count for the period only, not for any version's entry. The span's
-- last_end moves with every metric window of a version: one upsert per window, on a table of one row per
-- asset (the MAX through the index on n).
CREATE TRIGGER report_version_changes_span_insert AFTER INSERT ON asset_metric_spans WHEN NEW.model_name <> '' BEGIN
  INSERT INTO report_version_changes (asset_id, n) VALUES (NEW.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_version_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
CREATE TRIGGER report_version_changes_span_update AFTER UPDATE ON asset_metric_spans
  WHEN NEW.model_name <> '' AND (OLD.first_start IS NOT NEW.first_start OR OLD.last_end IS NOT NEW.last_end) BEGIN
  INSERT INTO report_version_changes (asset_id, n) VALUES (NEW.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_version_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
CREATE TRIGGER report_version_changes_span_delete AFTER DELETE ON asset_metric_spans WHEN OLD.model_name <> '' BEGIN
  INSERT INTO report_version_changes (asset_id, n) VALUES (OLD.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_version_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
-- only the windows the report reads (migration 009's partial index): most windows cost the WHEN alone
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
