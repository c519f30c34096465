-- 013: one set of device triggers for the two report generations. Migrations 009 (report_data) and 010
-- (report_assets) each put a trigger on every insert, delete and update of a device, under the same
-- WHEN; the update ones fire on every last-seen update (every heartbeat of a device with an asset), and
-- each ran the WHEN's EXISTS subquery over the devices of the asset: twice per heartbeat. One trigger
-- per event now bumps both generations, under the same conditions as before, in the same transaction.
DROP TRIGGER report_data_devices_insert;
DROP TRIGGER report_assets_devices_insert;
DROP TRIGGER report_data_devices_delete;
DROP TRIGGER report_assets_devices_delete;
DROP TRIGGER report_data_devices_update;
DROP TRIGGER report_assets_devices_update;

CREATE TRIGGER report_devices_insert AFTER INSERT ON devices WHEN NEW.asset_id IS NOT NULL BEGIN
  UPDATE report_data SET generation = generation + 1;
  UPDATE report_assets SET generation = generation + 1;
END;
CREATE TRIGGER report_devices_delete AFTER DELETE ON devices WHEN OLD.asset_id IS NOT NULL BEGIN
  UPDATE report_data SET generation = generation + 1;
  UPDATE report_assets SET generation = generation + 1;
END;
-- the class and site of an asset are its device's seen last: a device seen again changes them when it
-- shares its asset with another device
CREATE TRIGGER report_devices_update AFTER UPDATE OF asset_id, asset_class, site, last_seen_at ON devices
  WHEN OLD.asset_id IS NOT NEW.asset_id OR OLD.asset_class IS NOT NEW.asset_class OR OLD.site IS NOT NEW.site
    OR (NEW.asset_id IS NOT NULL AND OLD.last_seen_at IS NOT NEW.last_seen_at
      AND EXISTS (SELECT 1 FROM devices o WHERE o.asset_id = NEW.asset_id AND o.device_id <> NEW.device_id)) BEGIN
  UPDATE report_data SET generation = generation + 1;
  UPDATE report_assets SET generation = generation + 1;
END;
