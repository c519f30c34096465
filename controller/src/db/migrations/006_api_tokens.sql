-- 006: API tokens created through the API (POST /api/v1/tokens, `pdmctl tokens create`), beside the
-- tokens file and the generated admin token (src/auth/). Only the sha256 of a token is stored: a token
-- is 32 random bytes, so a digest cannot be reversed and no slow hash is needed. A revoked token keeps
-- its row (and its name: names are never reused, so audit entries keep naming one token).
CREATE TABLE api_tokens (
  name         TEXT PRIMARY KEY,
  role         TEXT NOT NULL,
  sha256       TEXT NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  -- the acting token's name
  created_by   TEXT NOT NULL,
  -- updated at most once a minute per token and instance, not on every request
  last_used_at INTEGER,
  revoked_at   INTEGER,
  revoked_by   TEXT
) WITHOUT ROWID;
