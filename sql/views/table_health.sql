-- chargegate.table_health — size and bloat of chargegate's tables: live and
-- dead tuples, total size and the last (auto)vacuum, so a DBA sees at once
-- whether retention and autovacuum keep up.
CREATE OR REPLACE VIEW chargegate.table_health AS
SELECT t.relname AS table_name,
       t.n_live_tup AS live_tuples,
       t.n_dead_tup AS dead_tuples,
       pg_size_pretty(pg_total_relation_size(t.relid)) AS total_size,
       pg_total_relation_size(t.relid) AS total_bytes,
       greatest(t.last_vacuum, t.last_autovacuum) AS last_vacuum,
       greatest(t.last_analyze, t.last_autoanalyze) AS last_analyze
  FROM pg_stat_user_tables t
 WHERE t.schemaname = 'chargegate';

COMMENT ON VIEW chargegate.table_health IS 'Live/dead tuples, size and last vacuum of every chargegate table.';
