-- 005: controller instances sharing this database (scale-out, controller/README.md "Scale-out") and
-- the leader lease. Singleton work (presence timeouts, reconciliation rounds, rollout engine ticks,
-- report jobs) runs only on the instance whose lease has not expired. Times are milliseconds since
-- the epoch of the host's clock: every instance runs on the host that holds the SQLite file.

-- one row per running instance, renewed with the lease; a stopping instance deletes its own
CREATE TABLE cluster_members (
  -- unique per process: <name>/<pid>/<random>
  instance_id TEXT PRIMARY KEY,
  -- the broker client id (external broker) or host name, for people reading the table
  name        TEXT NOT NULL,
  started_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE leader (
  -- what the lease is for; 'controller' is the one lease of the singleton jobs
  role        TEXT PRIMARY KEY,
  owner       TEXT NOT NULL,
  acquired_at INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
