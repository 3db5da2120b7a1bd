-- The Resonate server v0.9.8's Postgres tables, as far as retention needs them:
-- columns, checks, generated columns, the ON DELETE CASCADE references and the
-- indexes. Written for tests/retention/ from /work/shared/design.md ("Postgres
-- schema") and the server's own schema in resonatehq/resonate
-- src/persistence/persistence_postgres.rs (CREATE_SCHEMA_SQL; the stored copy
-- read was commit 0a2e779ac25eb2ac3a7c7ec122ad147c8e2ac828). The server runs its
-- schema with IF NOT EXISTS at every start; so does this file.
-- If the chart's Resonate image moves past v0.9.8, re-check this file and
-- services/retention/sql.py against that version.

CREATE TABLE IF NOT EXISTS promises (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'resolved', 'rejected', 'rejected_canceled', 'rejected_timedout')),
  param_headers JSONB,
  param_data TEXT,
  value_headers JSONB,
  value_data TEXT,
  tags JSONB NOT NULL DEFAULT '{}',
  target TEXT GENERATED ALWAYS AS (tags->>'resonate:target') STORED,
  origin TEXT GENERATED ALWAYS AS (tags->>'resonate:origin') STORED,
  branch TEXT GENERATED ALWAYS AS (tags->>'resonate:branch') STORED,
  timer BOOLEAN NOT NULL GENERATED ALWAYS AS (COALESCE(tags->>'resonate:timer', '') = 'true') STORED,
  timeout_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  settled_at BIGINT
);
-- No index on origin or tags: the server never looks a promise up by either.
CREATE INDEX IF NOT EXISTS idx_promises_timeout_at ON promises (timeout_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS idx_promises_target ON promises (target) WHERE target IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_promises_branch ON promises (branch) WHERE branch IS NOT NULL;

CREATE TABLE IF NOT EXISTS promise_timeouts (
  timeout_at BIGINT NOT NULL,
  id TEXT PRIMARY KEY REFERENCES promises (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS callbacks (
  awaited_id TEXT NOT NULL REFERENCES promises (id) ON DELETE CASCADE,
  awaiter_id TEXT NOT NULL REFERENCES promises (id) ON DELETE CASCADE,
  ready BOOLEAN NOT NULL DEFAULT false,
  PRIMARY KEY (awaited_id, awaiter_id)
);
CREATE INDEX IF NOT EXISTS idx_callbacks_awaiter_id ON callbacks (awaiter_id);

CREATE TABLE IF NOT EXISTS listeners (
  promise_id TEXT NOT NULL REFERENCES promises (id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  PRIMARY KEY (promise_id, address)
);

CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY REFERENCES promises (id) ON DELETE CASCADE,
  state TEXT NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'acquired', 'suspended', 'halted', 'fulfilled')),
  version INT NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS task_timeouts (
  timeout_at BIGINT NOT NULL,
  id TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
  timeout_type SMALLINT NOT NULL DEFAULT 0,
  process_id TEXT,
  ttl BIGINT NOT NULL DEFAULT 30000
);

CREATE TABLE IF NOT EXISTS outgoing_execute (
  id TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
  version INT NOT NULL,
  address TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS outgoing_unblock (
  promise_id TEXT NOT NULL REFERENCES promises (id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  PRIMARY KEY (promise_id, address)
);

-- Schedules stand apart: no reference to promises, nothing retention touches.
CREATE TABLE IF NOT EXISTS schedules (
  id TEXT PRIMARY KEY,
  cron TEXT NOT NULL,
  promise_id TEXT NOT NULL,
  promise_timeout BIGINT NOT NULL,
  promise_param_headers JSONB,
  promise_param_data TEXT,
  promise_tags JSONB NOT NULL DEFAULT '{}',
  created_at BIGINT NOT NULL,
  next_run_at BIGINT NOT NULL,
  last_run_at BIGINT
);

CREATE TABLE IF NOT EXISTS schedule_timeouts (
  timeout_at BIGINT NOT NULL,
  id TEXT PRIMARY KEY REFERENCES schedules (id) ON DELETE CASCADE
);
