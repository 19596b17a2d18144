"""datastore_search_sql's checker: what it lets through (rewritten to read published columns only) and every
kind of statement it refuses before a database sees it."""

import pytest

from kota_opendata.domain.sql_check import MAX_SQL_CHARS, PublishedTable, SqlRefused, check

RESOURCE = "0b6a1c0e-1111-5222-8333-944455556666"
RESOURCES = {RESOURCE: PublishedTable("od_rec_pengaduan_warga", ("_id", "kota", "status", "rating"))}
READER = '(SELECT "_id", "kota", "status", "rating" FROM "od_rec_pengaduan_warga")'


def test_an_aggregate_reads_the_resources_published_columns_under_its_id():
    sql = f'SELECT kota, count(*) AS n, avg(rating) FROM "{RESOURCE}" WHERE status = \'closed\' GROUP BY kota'
    assert check(sql, RESOURCES, "postgres") == (f'SELECT kota, COUNT(*) AS n, AVG(rating) FROM {READER} AS "{RESOURCE}" '
                                                 "WHERE status = 'closed' GROUP BY kota")


def test_aliases_joins_unions_subqueries_windows_and_ctes_are_reads_too():
    for sql in [
        f'SELECT r.kota FROM "{RESOURCE}" AS r JOIN "{RESOURCE}" AS s ON r._id = s._id',
        f'SELECT kota FROM "{RESOURCE}" UNION ALL SELECT status FROM "{RESOURCE}"',
        f'SELECT * FROM (SELECT kota, rank() OVER (ORDER BY rating DESC) AS k FROM "{RESOURCE}") AS ranked',
        f'WITH per_kota AS (SELECT kota, count(*) AS n FROM "{RESOURCE}" GROUP BY kota) SELECT max(n) FROM per_kota',
        f'SELECT coalesce(lower(kota), \'-\'), round(cast(rating AS numeric), 1) FROM "{RESOURCE}" LIMIT 5',
        f'SELECT count(*) FROM "{RESOURCE}" WHERE (status = \'closed\' AND rating >= 4) OR NOT kota LIKE \'%Barat\'',
    ]:
        rewritten = check(sql, RESOURCES, "sqlite")
        assert "od_rec_pengaduan_warga" in rewritten and f'FROM "{RESOURCE}"' not in rewritten


def test_a_cte_cannot_lend_its_name_to_a_real_table_outside_its_scope():
    sql = 'SELECT * FROM (WITH od_datasets AS (SELECT 1) SELECT * FROM od_datasets) AS q, od_datasets'
    rewritten = check(sql, RESOURCES, "postgres")
    assert "FROM od_datasets" not in rewritten and '"cte_0_od_datasets" AS "od_datasets"' in rewritten


@pytest.mark.parametrize("sql,reason", [
    ("", "Missing value"),
    ("   ", "Missing value"),
    ("SELECT 1 " + "x" * MAX_SQL_CHARS, "longer than"),
    ("SELEC kota FROM x", "could not be parsed"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "could not be parsed"),
    (f'SELECT 1 FROM "{RESOURCE}"; SELECT 2', "not a single statement"),
    (f'SELECT 1; DROP TABLE "{RESOURCE}"', "not a single statement"),
    (f'INSERT INTO "{RESOURCE}" (kota) VALUES (\'x\')', "not INSERT"),
    (f'UPDATE "{RESOURCE}" SET kota = \'x\'', "not UPDATE"),
    (f'DELETE FROM "{RESOURCE}"', "not DELETE"),
    (f'WITH gone AS (DELETE FROM "{RESOURCE}" RETURNING *) SELECT * FROM gone', "not DELETE"),
    (f'CREATE TABLE copy AS SELECT * FROM "{RESOURCE}"', "not CREATE"),
    (f'DROP TABLE "{RESOURCE}"', "not DROP"),
    (f'ALTER TABLE "{RESOURCE}" ADD COLUMN x int', "Only SELECT"),
    (f'TRUNCATE "{RESOURCE}"', "Only SELECT"),
    ("PRAGMA writable_schema = 1", "not PRAGMA"),
    ("SET statement_timeout = 0", "not SET"),
    ("BEGIN", "Only SELECT"),
    ("VACUUM", "Only SELECT"),
    (f"COPY \"{RESOURCE}\" TO '/tmp/out.csv'", "Only SELECT"),
    ("EXPLAIN SELECT 1", "Only SELECT"),
    (f'SELECT * INTO stolen FROM "{RESOURCE}"', "SELECT INTO"),
    (f'SELECT * FROM "{RESOURCE}" FOR UPDATE', "Row locks"),
    ("SELECT * FROM od_datasets", "Not a published datastore resource"),
    ("SELECT * FROM od_complaint_facts", "Not a published datastore resource"),
    ("SELECT * FROM outbox", "Not a published datastore resource"),
    ("SELECT name FROM sqlite_master", "Not a published datastore resource"),
    ("SELECT * FROM pg_catalog.pg_tables", "Not a published datastore resource"),
    ("SELECT * FROM information_schema.tables", "Not a published datastore resource"),
    (f'SELECT * FROM public."{RESOURCE}"', "Not a published datastore resource"),
    (f'SELECT kota FROM "{RESOURCE}" WHERE kota IN (SELECT name FROM od_datasets)', "Not a published"),
    ("SELECT * FROM generate_series(1, 1000000000)", "table function"),
    ("SELECT pg_sleep(60)", "Function not allowed: pg_sleep"),
    ("SELECT pg_read_file('/etc/passwd')", "Function not allowed"),
    ("SELECT current_setting('data_directory')", "Function not allowed"),
    ("SELECT set_config('statement_timeout', '0', false)", "Function not allowed"),
    ("SELECT load_extension('/tmp/evil.so')", "Function not allowed"),
    ("SELECT randomblob(1000000000)", "Function not allowed"),
    ("SELECT version()", "Function not allowed"),
    (f'SELECT nextval(\'seq\') FROM "{RESOURCE}"', "Function not allowed"),
])
def test_everything_but_a_read_of_published_resources_is_refused(sql, reason):
    with pytest.raises(SqlRefused) as refused:
        check(sql, RESOURCES, "postgres")
    assert reason in str(refused.value)
