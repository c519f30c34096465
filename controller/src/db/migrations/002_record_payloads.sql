-- 002: records of kinds that have no table of their own yet (the protocol grows faster than the
-- controller's features); kept whole, as the validated JSON, so nothing a device sent is lost and a
-- later migration can move them into a dedicated table.
CREATE TABLE record_payloads (
  device_id TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  kind      TEXT NOT NULL,
  payload   TEXT NOT NULL,
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX record_payloads_kind ON record_payloads (kind, device_id);
