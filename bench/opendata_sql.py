"""datastore_search_sql benchmark: an analyst's aggregate over a 1,000,000-row published resource, through the
gateway's CKAN action (HTTP) and the opendata service's SearchSql (gRPC), next to the same SQL run raw on the
same database in the same run.

1. Loads N rows (default 1,000,000 air-quality-like readings, 50 stations) as bench/opendata_query.py does
   (registered like an agency upload, with its indexes), then starts the opendata service and the gateway.
2. For each statement: p50/p95 of datastore_search_sql over HTTP, of SearchSql over gRPC, of the raw statement on
   the records table (SQLAlchemy, same database), and of the checker alone (sqlglot parse, check, rewrite).
   Every path must return the same rows.

    flock /tmp/kota-cpu.lock .venv/bin/python bench/opendata_sql.py [--rows 1000000] [--runs 20] [--postgres]

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Never run as a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

import grpc
import httpx
from opendata_query import NAME, line, load  # the same 1M-row dataset as the datastore_search bench
from sqlalchemy import text

from kota.opendata.v1 import opendata_pb2 as pb
from kota.opendata.v1 import opendata_pb2_grpc as pb_grpc
from kota_common.db.engines import make_engine
from kota_common.testing import ServiceProcess, bench_broker, bench_workdir, free_port
from kota_gateway.testing import start_gateway
from kota_opendata.domain import catalog, sql_check

TABLE = "od_bench_udara_1m_v1"
COLUMNS = ("_id", "station_id", "observed_at", "pm25", "ispu", "category")
STATEMENTS = [
    ("per category: count, mean PM2.5, max ISPU (all rows)",
     'SELECT category, count(*) AS n, avg(pm25) AS mean_pm25, max(ispu) AS max_ispu FROM {table} '
     "GROUP BY category ORDER BY n DESC, category"),
    ("per station, one week: readings and mean PM2.5 (a range of rows)",  # the readings span 2024-01-01 to 01-14
     "SELECT station_id, count(*) AS n, round(avg(pm25)) AS mean_pm25 FROM {table} "
     "WHERE observed_at >= '2024-01-05' AND observed_at < '2024-01-12' GROUP BY station_id ORDER BY station_id"),
]


def normalise(rows: list[dict]) -> list[tuple]:
    return [tuple(round(float(v), 6) if isinstance(v, int | float) else v for v in r.values()) for r in rows]


def measure(fn, runs: int) -> tuple[list[float], object]:
    fn()  # warm-up: caches, plans, connections
    ms, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        ms.append((time.perf_counter() - t0) * 1000)
    return ms, result


def run(args) -> None:
    work = bench_workdir("kota-bench-opendata-sql-")
    url = args.database_url or f"sqlite:///{work / 'opendata.db'}"
    resource = catalog.resource_id(NAME, "csv")
    with bench_broker(work) as bootstrap:
        print(f"database {url.split('@')[-1]}; broker {bootstrap}; {args.rows} rows; {args.runs} runs per line")
        load(url, args.rows)
        address = f"127.0.0.1:{free_port()}"
        env = {"KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_OPENDATA_DATABASE_URL": url, "KOTA_OPENDATA_GRPC_ADDRESS": address,
               "KOTA_OPENDATA_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:6]}", "KOTA_OPENDATA_CONSUME_EVENTS": "false",
               "KOTA_OPENDATA_SQL_TIMEOUT_S": "300", "KOTA_LOG_LEVEL": "WARNING"}
        service = ServiceProcess("kota_opendata", env, address, work / "opendata.log").start()
        gateway = None
        engine = make_engine(url)
        try:
            gateway = start_gateway(work, f"127.0.0.1:{free_port()}", bootstrap, name="gateway",
                                    KOTA_GATEWAY_OPENDATA_ADDRESS=address, KOTA_GATEWAY_RPC_TIMEOUT_S="120",
                                    KOTA_LOG_LEVEL="WARNING")
            dialect = "postgres" if engine.dialect.name == "postgresql" else "sqlite"
            published = {resource: sql_check.PublishedTable(TABLE, COLUMNS)}
            with grpc.insecure_channel(address) as channel, httpx.Client(base_url=gateway.base_url, timeout=300) as http:
                stub = pb_grpc.OpenDataServiceStub(channel)
                for label, template in STATEMENTS:
                    analyst_sql = template.format(table=f'"{resource}"')
                    raw_sql = template.format(table=TABLE)

                    def over_http(sql=analyst_sql):
                        reply = http.post("/api/3/action/datastore_search_sql", json={"sql": sql})
                        assert reply.status_code == 200, reply.text
                        return reply.json()["result"]["records"]

                    def over_grpc(sql=analyst_sql):
                        return json.loads(stub.SearchSql(pb.SearchSqlRequest(sql=sql), timeout=300).records_json)

                    def raw(sql=raw_sql):
                        with engine.connect() as conn:
                            return [dict(r) for r in conn.execute(text(sql)).mappings()]

                    http_ms, via_http = measure(over_http, args.runs)
                    grpc_ms, via_grpc = measure(over_grpc, args.runs)
                    raw_ms, via_raw = measure(raw, args.runs)
                    check_ms, _ = measure(lambda s=analyst_sql: sql_check.check(s, published, dialect), args.runs)
                    assert normalise(via_http) == normalise(via_grpc) == normalise(via_raw), (via_http, via_raw)
                    assert via_raw, f"{label}: no rows (the dataset does not cover the statement)"
                    print(f"{label}: {len(via_raw)} rows")
                    print(line("datastore_search_sql over HTTP (gateway -> gRPC -> database)", http_ms))
                    print(line("SearchSql over gRPC", grpc_ms))
                    print(line("raw SQL on the same database (SQLAlchemy)", raw_ms))
                    print(line("the checker alone (sqlglot parse + check + rewrite)", check_ms))
        finally:
            if gateway:
                gateway.stop()
            service.stop()
            engine.dispose()
    print(f"(work files in {work})", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--postgres", action="store_true", help="run on a throwaway PostgreSQL cluster (needs initdb)")
    args = parser.parse_args()
    if args.postgres and not args.database_url:
        from kota_common.testing import throwaway_postgres

        with throwaway_postgres() as url:
            args.database_url = url
            run(args)
        return
    run(args)


if __name__ == "__main__":
    main()
