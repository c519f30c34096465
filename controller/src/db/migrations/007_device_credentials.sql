-- 007: device identities for the embedded broker (controller/README.md "Device identity"). One row
-- per enrolled device: the MQTT password's scrypt hash (never the password), what the device watches,
-- and tags that rollouts may target. Revoking keeps the row (and its history in the audit log).
CREATE TABLE device_credentials (
  device_id   TEXT PRIMARY KEY,
  asset_id    TEXT NOT NULL,
  asset_class TEXT NOT NULL,
  site        TEXT NOT NULL,
  -- JSON array of tag strings, sorted, without repeats
  tags        TEXT NOT NULL DEFAULT '[]',
  -- scrypt$N$r$p$salt$hash (src/devices/secret-hash.ts)
  secret_hash TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('active', 'revoked')),
  -- 1 at enrollment, +1 per re-issue: which password a device holds, without revealing it
  generation  INTEGER NOT NULL,
  enrolled_at INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  revoked_at  INTEGER
) WITHOUT ROWID;
