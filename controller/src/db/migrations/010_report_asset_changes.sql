-- 010: which assets' events changed, so the reliability report derives again only those assets' downtime
-- (reliability/downtime-state.ts keeps every asset's part between renders; bench:reports, 10,000 assets:
-- deriving all of them from the fleet's ~90,000 events was most of every render after new data).
-- One row per asset with the number of its latest change: bounded by the number of assets, and a reader
-- asks for the assets changed after the number it has seen. Triggers write it in the transaction that
-- changes an event, whoever writes it. Existing events need no row: a reader without a number derives all.
CREATE TABLE report_asset_changes (
  asset_id TEXT PRIMARY KEY,
  n        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX report_asset_changes_n ON report_asset_changes (n);

CREATE TRIGGER report_asset_changes_events_insert AFTER INSERT ON machine_events BEGIN
  INSERT INTO report_asset_changes (asset_id, n) VALUES (NEW.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_asset_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
-- the controller neither updates nor deletes device events; a change by hand still counts
CREATE TRIGGER report_asset_changes_events_update AFTER UPDATE ON machine_events BEGIN
  INSERT INTO report_asset_changes (asset_id, n) VALUES (OLD.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_asset_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
  INSERT INTO report_asset_changes (asset_id, n) VALUES (NEW.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_asset_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
CREATE TRIGGER report_asset_changes_events_delete AFTER DELETE ON machine_events BEGIN
  INSERT INTO report_asset_changes (asset_id, n) VALUES (OLD.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_asset_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
CREATE TRIGGER report_asset_changes_entered_insert AFTER INSERT ON machine_events_entered BEGIN
  INSERT INTO report_asset_changes (asset_id, n) VALUES (NEW.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_asset_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
CREATE TRIGGER report_asset_changes_entered_update AFTER UPDATE ON machine_events_entered BEGIN
  INSERT INTO report_asset_changes (asset_id, n) VALUES (OLD.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_asset_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
  INSERT INTO report_asset_changes (asset_id, n) VALUES (NEW.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_asset_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
CREATE TRIGGER report_asset_changes_entered_delete AFTER DELETE ON machine_events_entered BEGIN
  INSERT INTO report_asset_changes (asset_id, n) VALUES (OLD.asset_id, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_asset_changes))
    ON CONFLICT DO UPDATE SET n = excluded.n;
END;
