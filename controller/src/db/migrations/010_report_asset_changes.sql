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

-- The assets a report lists (with their class and site) changed: a generation of its own, so the report
-- keeps the list while only events or windows come in. The same conditions as migration 009's device
-- triggers (the class and site of an asset are its device's seen last), and entered events of an asset
-- that has no device (such an asset is listed from its entered events alone).
CREATE TABLE report_assets (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL
);
INSERT INTO report_assets (id, generation) VALUES (1, 1);

CREATE TRIGGER report_assets_devices_insert AFTER INSERT ON devices WHEN NEW.asset_id IS NOT NULL BEGIN
  UPDATE report_assets SET generation = generation + 1;
END;
CREATE TRIGGER report_assets_devices_delete AFTER DELETE ON devices WHEN OLD.asset_id IS NOT NULL BEGIN
  UPDATE report_assets SET generation = generation + 1;
END;
CREATE TRIGGER report_assets_devices_update AFTER UPDATE OF asset_id, asset_class, site, last_seen_at ON devices
  WHEN OLD.asset_id IS NOT NEW.asset_id OR OLD.asset_class IS NOT NEW.asset_class OR OLD.site IS NOT NEW.site
    OR (NEW.asset_id IS NOT NULL AND OLD.last_seen_at IS NOT NEW.last_seen_at
      AND EXISTS (SELECT 1 FROM devices o WHERE o.asset_id = NEW.asset_id AND o.device_id <> NEW.device_id)) BEGIN
  UPDATE report_assets SET generation = generation + 1;
END;
CREATE TRIGGER report_assets_entered_insert AFTER INSERT ON machine_events_entered
  WHEN NOT EXISTS (SELECT 1 FROM devices WHERE asset_id = NEW.asset_id) BEGIN
  UPDATE report_assets SET generation = generation + 1;
END;
CREATE TRIGGER report_assets_entered_update AFTER UPDATE OF asset_id ON machine_events_entered WHEN OLD.asset_id IS NOT NEW.asset_id BEGIN
  UPDATE report_assets SET generation = generation + 1;
END;
CREATE TRIGGER report_assets_entered_delete AFTER DELETE ON machine_events_entered BEGIN
  UPDATE report_assets SET generation = generation + 1;
END;
