"""The retention rule as SQL, for the Resonate server v0.9.8's Postgres schema ONLY.

Tied to v0.9.8 (``charts/longhaul/values.yaml`` pins the server image there):
the ``promises`` table with its generated ``origin`` column, its ``tags`` JSONB,
``state``/``settled_at`` in ms, and ``ON DELETE CASCADE`` from
``promise_timeouts``, ``callbacks`` (both ends), ``listeners``, ``tasks`` and
``outgoing_unblock`` to ``promises(id)``, and from ``task_timeouts`` and
``outgoing_execute`` to ``tasks(id)``. Deleting a promise row therefore deletes
everything that hangs off it, in the same statement. A server version with
another schema needs this file re-checked (``tests/retention/`` runs it
against ``tests/retention/schema_v0_9_8.sql``).

The rule itself is ``services/common/retention.py``; its numbers are the query's
parameters.

One batch is one statement in one short transaction:

1. ``win``: the next ``batch_ids`` ids after the cursor, in primary-key order
   (an index range scan: a run walks the table once, whatever its size);
2. ``roots``: the finished job roots among them past their tenant's retention
   with no pending member, locked ``FOR UPDATE SKIP LOCKED`` (a second run at
   the same time skips them instead of waiting or deleting them twice);
3. ``adverts``: settled adverts past their grace, locked the same way;
4. every promise of those roots' groups (by ``origin``) and the adverts is
   deleted; the cascades take their tasks, timeouts, callbacks, listeners and
   outgoing messages.
"""

from __future__ import annotations

from typing import Any

from services.common.retention import ADVERT_PREFIX, TAG_KIND, RetentionPolicy

#: Longhaul's addition to the server's schema: without it, step 4 and the
#: "no pending member" check scan the whole table once per batch.
ORIGIN_INDEX = "longhaul_promises_origin"
CREATE_ORIGIN_INDEX = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ORIGIN_INDEX} ON promises (origin) "
    "WHERE origin IS NOT NULL"
)
#: A CONCURRENTLY build that was interrupted leaves an invalid index behind.
INVALID_ORIGIN_INDEX = """
SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname = %(name)s AND NOT i.indisvalid
"""
DROP_ORIGIN_INDEX = f"DROP INDEX CONCURRENTLY IF EXISTS {ORIGIN_INDEX}"

BATCH = """
WITH win AS (
  SELECT id FROM promises WHERE id > %(cursor)s ORDER BY id LIMIT %(batch_ids)s
),
roots AS (
  SELECT r.id FROM promises r
  WHERE r.id IN (SELECT id FROM win)
    AND r.origin = r.id
    AND r.tags ? %(tag_kind)s
    AND r.state <> 'pending'
    AND r.settled_at IS NOT NULL
    -- the tenant's retention: its override, else the default (ms; 0 = forever)
    AND COALESCE((%(tenants)s::jsonb ->> split_part(r.id, '.', 1))::bigint, %(default_ms)s) > 0
    AND r.settled_at
      + COALESCE((%(tenants)s::jsonb ->> split_part(r.id, '.', 1))::bigint, %(default_ms)s)
      <= %(now_ms)s
    AND NOT EXISTS (
      SELECT 1 FROM promises m WHERE m.origin = r.id AND m.state = 'pending'
    )
  FOR UPDATE OF r SKIP LOCKED
),
adverts AS (
  SELECT a.id FROM promises a
  WHERE a.id IN (SELECT id FROM win)
    AND starts_with(a.id, %(advert_prefix)s)
    AND a.origin IS NULL
    AND a.state <> 'pending'
    AND %(advert_ms)s > 0
    AND a.settled_at + %(advert_ms)s <= %(now_ms)s
  FOR UPDATE OF a SKIP LOCKED
),
doomed AS (
  SELECT p.id FROM promises p WHERE p.origin IN (SELECT id FROM roots)
  UNION
  SELECT id FROM adverts
),
doomed_tasks AS (
  SELECT count(*) AS n FROM tasks WHERE id IN (SELECT id FROM doomed)
),
gone AS (
  DELETE FROM promises WHERE id IN (SELECT id FROM doomed) RETURNING id
)
SELECT
  (SELECT max(id) FROM win) AS last_id,
  (SELECT count(*) FROM roots) AS groups,
  (SELECT count(*) FROM adverts) AS adverts,
  (SELECT count(*) FROM gone) AS promises,
  (SELECT n FROM doomed_tasks) AS tasks
"""


def batch_params(
    policy: RetentionPolicy, cursor: str, batch_ids: int, now_ms: int
) -> dict[str, Any]:
    import json

    return {
        "cursor": cursor,
        "batch_ids": batch_ids,
        "now_ms": now_ms,
        "default_ms": policy.default_ms,
        "tenants": json.dumps(dict(policy.tenants)),
        "tag_kind": TAG_KIND,
        "advert_prefix": ADVERT_PREFIX,
        "advert_ms": policy.advert_grace_ms,
    }
