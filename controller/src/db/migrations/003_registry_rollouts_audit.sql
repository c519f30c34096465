-- 003: model registry (content-addressed artifacts, versions with their cards, release counters),
-- signing trust (key sets and which one each device acknowledged), signed manifests, rollouts with
-- their devices and stage evaluations, and the audit log of every change made through the API or by
-- the rollout engine. Times are milliseconds since the epoch (controller clock).

-- Artifact bytes live in <dataDir>/artifacts/<sha256[0:2]>/<sha256>; this row says they are complete.
CREATE TABLE artifacts (
  sha256    TEXT PRIMARY KEY,
  length    INTEGER NOT NULL CHECK (length > 0),
  stored_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE model_versions (
  name         TEXT NOT NULL,
  version      TEXT NOT NULL,
  model_sha256 TEXT NOT NULL REFERENCES artifacts (sha256),
  model_length INTEGER NOT NULL,
  -- card.json as shipped to devices (the bytes whose sha256 is card_sha256)
  card_sha256  TEXT NOT NULL REFERENCES artifacts (sha256),
  card_length  INTEGER NOT NULL,
  card         TEXT NOT NULL,
  variant      TEXT NOT NULL,
  published_at INTEGER NOT NULL,
  published_by TEXT NOT NULL,
  reason       TEXT,
  PRIMARY KEY (name, version)
) WITHOUT ROWID;

-- Release counter per model name: strictly increasing, never reused (a device refuses <= its high-water mark).
CREATE TABLE model_releases (
  name         TEXT PRIMARY KEY,
  last_release INTEGER NOT NULL
) WITHOUT ROWID;

-- Public key sets only; the private signing key is a file outside the database.
CREATE TABLE key_sets (
  version    INTEGER PRIMARY KEY,
  key_set    TEXT NOT NULL,
  -- the key set signed by the previous set's key (trust-keys envelope); NULL for the first set
  envelope   TEXT,
  created_at INTEGER NOT NULL
);

-- The key set version each device confirmed (ok reply to trust-keys, or already-installed).
CREATE TABLE device_trust (
  device_id       TEXT PRIMARY KEY,
  key_set_version INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) WITHOUT ROWID;

-- Every manifest signed, with the envelope sent (resent as is while it has not expired).
CREATE TABLE manifests (
  deployment_id TEXT PRIMARY KEY,
  model_name    TEXT NOT NULL,
  model_version TEXT NOT NULL,
  release       INTEGER NOT NULL,
  mode          TEXT NOT NULL,
  target        TEXT NOT NULL,
  rollout_id    TEXT,
  -- stage (a rollout stage), join (a device brought to the rollout's target later), rollback
  purpose       TEXT NOT NULL CHECK (purpose IN ('stage', 'join', 'rollback')),
  envelope      TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL,
  UNIQUE (model_name, release)
);
CREATE INDEX manifests_rollout ON manifests (rollout_id);

CREATE TABLE rollouts (
  id                TEXT PRIMARY KEY,
  model_name        TEXT NOT NULL,
  model_version     TEXT NOT NULL,
  -- the validated request: target, mode, stages with their gates, fallback version
  spec              TEXT NOT NULL,
  state             TEXT NOT NULL CHECK (state IN ('running', 'paused', 'completed', 'aborted', 'rolled-back')),
  stage             INTEGER NOT NULL,
  stage_started_at  INTEGER,
  -- why the rollout is in its state: the failed gate, the timed-out stage, the person's reason
  reason            TEXT,
  created_at        INTEGER NOT NULL,
  created_by        TEXT NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX rollouts_state ON rollouts (state);

CREATE TABLE rollout_devices (
  rollout_id    TEXT NOT NULL REFERENCES rollouts (id),
  device_id     TEXT NOT NULL,
  -- stage that took the device in; NULL while it is targeted but waits for a later stage
  stage         INTEGER,
  -- the model the device ran as active before it got this rollout's version (JSON {name, version}),
  -- which a rollback returns it to
  baseline      TEXT,
  -- what the controller wants there: 'pending' (nothing yet), 'candidate', 'baseline' (rolled back)
  want          TEXT NOT NULL CHECK (want IN ('pending', 'candidate', 'baseline')),
  -- the last manifest sent to the device, its command id, when it was sent and answered
  deployment_id TEXT,
  command_id    TEXT,
  sent_at       INTEGER,
  answered_at   INTEGER,
  -- the device's answer to that command: received, queued, rejected:<reason>, or NULL (none yet)
  answer        TEXT,
  -- manifests sent for the current want; a device that keeps drifting is given up on after a few
  attempts      INTEGER NOT NULL DEFAULT 0,
  joined_at     INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, device_id)
) WITHOUT ROWID;
CREATE INDEX rollout_devices_device ON rollout_devices (device_id);

CREATE TABLE rollout_stages (
  rollout_id TEXT NOT NULL REFERENCES rollouts (id),
  stage      INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  -- when enough of the stage's devices had committed the version: the soak time counts from here
  activated_at INTEGER,
  ended_at   INTEGER,
  -- passed, failed, timed-out, promoted (by hand), stopped (rollout aborted or rolled back by hand)
  outcome    TEXT,
  -- the last gate evaluation (JSON)
  evaluation TEXT,
  PRIMARY KEY (rollout_id, stage)
) WITHOUT ROWID;

CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  at          INTEGER NOT NULL,
  -- the API token's name, or 'controller' for what the rollout engine does by itself
  actor       TEXT NOT NULL,
  role        TEXT,
  action      TEXT NOT NULL,
  target_type TEXT NOT NULL,
  target_id   TEXT NOT NULL,
  reason      TEXT,
  detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
