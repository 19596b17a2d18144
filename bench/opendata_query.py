"""Open data benchmark: datastore queries on a 1,000,000-row dataset and event-to-API freshness.

1. Loads a dataset of N rows (default 1,000,000 air-quality-like readings from 50 stations) straight into the
   open data service's database, registered like an agency upload and with the indexes an upload gets (the
   CSV path itself is not measured here), then starts the service as its own process.
2. Query latency (p50/p95): the datastore_search the gateway sends, QueryRecords over gRPC with a filter
   (station_id = one of 50), a sort (observed_at desc) and paging (random page of 100 among the first 50)
   with the total, next to the same two SQL statements (page + count) run raw on the same database.
   Also a second shape: filter on a low-cardinality column (category) sorted by another column (pm25 desc),
   which no composite index serves (the database sorts the matching rows), and a full-text q without a filter.
3. Freshness (p95): a sensor reading is published with ce_time = now; the time until its hourly ISPU row is
   visible through QueryRecords. Then a burst of readings: end-to-end readings/s the consumer applies.

    .venv/bin/python bench/opendata_query.py [--rows 1000000] [--queries 300] [--events 50] [--database-url URL | --postgres]

Uses KOTA_KAFKA_BOOTSTRAP if set, otherwise starts the embedded broker on a free port. Never run as a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import grpc
from google.protobuf import struct_pb2
from sqlalchemy import text
from sqlmodel import Session

from kota.opendata.v1 import opendata_pb2 as pb
from kota.opendata.v1 import opendata_pb2_grpc as pb_grpc
from kota_common import envelope
from kota_common.db.engines import make_engine, upgrade_to_head
from kota_common.events.sensors import SensorReading
from kota_common.kafka import ensure_topics, make_producer
from kota_common.standards import ispu
from kota_common.testing import ServiceProcess, bench_workdir, free_port
from kota_opendata.adapters import datastore
from kota_opendata.adapters.orm import DatasetRow, DatasetVersionRow
from kota_opendata.domain import catalog
from kota_opendata.entrypoints.app import MIGRATIONS
from kota_opendata.service_layer.catalog import ensure_catalog
from kota_opendata.service_layer.unit_of_work import UnitOfWork
from kota_opendata.service_layer.uploads import upload_indexes

NAME = "bench-udara-1m"
FIELDS = [datastore.FieldDef("station_id", "text"), datastore.FieldDef("observed_at", "timestamp"),
          datastore.FieldDef("pm25", "numeric"), datastore.FieldDef("ispu", "int"), datastore.FieldDef("category", "text")]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def line(name: str, ms: list[float]) -> str:
    return f"  {name:<64} n={len(ms):<5} p50 {pct(ms, 50):8.2f} ms   p95 {pct(ms, 95):8.2f} ms"


def load(url: str, rows: int) -> None:
    upgrade_to_head(url, MIGRATIONS)
    engine = make_engine(url)
    ensure_catalog(UnitOfWork(engine))
    ds_id = catalog.dataset_id(NAME)
    table_name = "od_bench_udara_1m_v1"
    with Session(engine) as session:
        if session.get(DatasetRow, ds_id) is not None:
            print(f"dataset {NAME} already loaded")
            return
        sample = [{"station_id": "S00", "category": "Sedang"}]
        indexes = upload_indexes(FIELDS, sample)  # exactly the indexes an agency upload of this CSV gets
        print(f"indexes: {indexes}")
        table = datastore.table_for(table_name, FIELDS, indexes)
        conn = session.connection()
        datastore.create_table(conn, table, full_text=False)
        rng = random.Random(7)
        start = datetime(2024, 1, 1)
        t0 = time.perf_counter()

        def gen():
            for i in range(rows):
                pm = round(rng.lognormvariate(3.3, 0.5), 1)
                index = ispu.sub_index("pm25", pm)
                yield {"station_id": f"S{i % 50:02d}", "observed_at": (start + timedelta(minutes=i // 50)).isoformat(),
                       "pm25": pm, "ispu": index, "category": ispu.category_name(index)}

        datastore.insert_many(conn, table, FIELDS, gen(), chunk=10_000)
        datastore.create_full_text_index(conn, table)
        now = datetime.now(timezone.utc)
        fields_json = datastore.fields_to_json(FIELDS)
        session.add(DatasetRow(id=ds_id, name=NAME, title="Benchmark: 1M air-quality readings", organization="DLH",
                               source="upload", fields=fields_json, table_name=table_name, record_count=rows,
                               metadata_created=now, metadata_modified=now))
        session.add(DatasetVersionRow(dataset_id=ds_id, number=1, table_name=table_name, fields=fields_json, created=now,
                                      record_count=rows, actor="system", note="benchmark"))
        session.commit()
        print(f"loaded {rows} rows in {time.perf_counter() - t0:.1f} s")
    if engine.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load (visibility map, stats)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM ANALYZE {table_name}"))
    else:
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    engine.dispose()


def bench_queries(url: str, stub, n: int) -> None:
    engine = make_engine(url)
    table = "od_bench_udara_1m_v1"
    shapes = [
        ("station_id", lambda r: f"S{r.randrange(50):02d}", "observed_at desc"),
        ("category", lambda r: r.choice(["Baik", "Sedang", "Tidak Sehat"]), "pm25 desc"),
    ]
    for shape, (column, value_of, sort) in enumerate(shapes):
        rng = random.Random(1)
        count = n if shape == 0 else max(n // 10, 10)  # the second shape is slow: fewer samples
        api_ms, sql_ms = [], []
        sort_col, direction = sort.split()
        page_sql = text(f'SELECT _id, station_id, observed_at, pm25, ispu, category FROM {table} WHERE {column} = :v '
                        f'ORDER BY {sort_col} {direction.upper()}, _id {direction.upper()} LIMIT 100 OFFSET :o')
        count_sql = text(f"SELECT count(*) FROM {table} WHERE {column} = :v")
        for i in range(count + 10):
            value, offset = value_of(rng), 100 * rng.randrange(50)
            filters = struct_pb2.Struct()
            filters.update({column: value})
            t0 = time.perf_counter()
            resp = stub.QueryRecords(pb.QueryRecordsRequest(resource_id=NAME, filters=filters, sort=sort, limit=100,
                                                            offset=offset), timeout=30)
            t1 = time.perf_counter()
            with engine.connect() as conn:
                rows = conn.execute(page_sql, {"v": value, "o": offset}).all()
                total = conn.execute(count_sql, {"v": value}).scalar_one()
            t2 = time.perf_counter()
            if i >= 10:  # warm-up excluded
                api_ms.append((t1 - t0) * 1000)
                sql_ms.append((t2 - t1) * 1000)
            assert total == resp.total and len(rows) == len(json.loads(resp.records_json)), (total, resp.total)
        print(f"filter {column}=<value>, sort {sort}, page of 100 at offset 0..4900, with total ({total} matching):")
        print(line("QueryRecords over gRPC (datastore_search)", api_ms))
        print(line("raw SQL on the same database (page + count)", sql_ms))
    # Full text (q) without a filter: a LIKE scan of the _text column (no full-text index yet).
    api_ms = []
    for i in range(min(n, 30) + 2):
        t0 = time.perf_counter()
        resp = stub.QueryRecords(pb.QueryRecordsRequest(resource_id=NAME, q="s07 tidak", limit=100), timeout=60)
        if i >= 2:
            api_ms.append((time.perf_counter() - t0) * 1000)
    print(f"q='s07 tidak' (full text, no filter), first page, with total ({resp.total} matching):")
    print(line("QueryRecords over gRPC (datastore_search)", api_ms))
    engine.dispose()


def bench_generic(url: str, n: int) -> None:
    """The alternative design measured on the same rows: one generic table for every dataset's records
    (dataset id + JSON document), without and with expression indexes on the filtered and sorted keys."""
    engine = make_engine(url)
    pg = engine.dialect.name == "postgresql"
    typed = "od_bench_udara_1m_v1"
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_generic_records"))
        conn.execute(text("CREATE TABLE bench_generic_records (dataset_id TEXT NOT NULL, rid BIGINT NOT NULL, "
                          f"doc {'JSONB' if pg else 'TEXT'} NOT NULL, PRIMARY KEY (dataset_id, rid))"))
        obj = ("jsonb_build_object('station_id', station_id, 'observed_at', observed_at, 'pm25', pm25, 'ispu', ispu, "
               "'category', category)") if pg else ("json_object('station_id', station_id, 'observed_at', observed_at, "
                                                    "'pm25', pm25, 'ispu', ispu, 'category', category)")
        conn.execute(text(f"INSERT INTO bench_generic_records SELECT 'bench', _id, {obj} FROM {typed}"))
    get = (lambda k: f"(doc->>'{k}')") if pg else (lambda k: f"json_extract(doc, '$.{k}')")
    page = text(f"SELECT rid, doc FROM bench_generic_records WHERE dataset_id = 'bench' AND {get('station_id')} = :v "
                f"ORDER BY {get('observed_at')} DESC, rid DESC LIMIT 100 OFFSET :o")
    count = text(f"SELECT count(*) FROM bench_generic_records WHERE dataset_id = 'bench' AND {get('station_id')} = :v")

    def measure(label: str, samples: int) -> None:
        rng = random.Random(1)
        ms = []
        for _ in range(samples):
            v, o = f"S{rng.randrange(50):02d}", 100 * rng.randrange(50)
            t0 = time.perf_counter()
            with engine.connect() as conn:
                conn.execute(page, {"v": v, "o": o}).all()
                conn.execute(count, {"v": v}).scalar_one()
            ms.append((time.perf_counter() - t0) * 1000)
        print(line(label, ms))

    print("alternative: one generic JSON record table for all datasets, same rows, same query (raw SQL):")
    measure("generic JSON table, no index on the keys", min(n, 10))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE INDEX bench_generic_ix ON bench_generic_records (dataset_id, {get('station_id')}, "
                          f"{get('observed_at')}, rid)"))
        if not pg:
            conn.execute(text("ANALYZE"))
    if pg:  # the same treatment as the typed table got after its load
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE bench_generic_records"))
    measure("generic JSON table + expression index (dataset, station, time)", n)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_generic_records"))
    engine.dispose()


def bench_freshness(bootstrap: str, stub, n: int) -> None:
    producer = make_producer(bootstrap)
    ensure_topics(bootstrap, ["sensors.readings.v1"])
    lags = []
    device = f"BENCH{uuid.uuid4().hex[:6].upper()}"
    hour0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
    for i in range(n):
        hour = hour0 + timedelta(hours=i)
        reading = SensorReading(device_id=device, quantity="pm25", unit="ug/m3", value=30.0,
                                observed_at_ms=int(hour.timestamp() * 1000))
        event = envelope.Event(type=reading.ce_type, source="/kota/bench", subject=device, data=reading.to_data())
        key, value, headers = envelope.encode(event, device)
        producer.produce("sensors.readings.v1", key=key, value=value, headers=headers)
        producer.flush(10)
        filters = struct_pb2.Struct()
        filters.update({"station_id": device, "hour": hour.replace(tzinfo=None).isoformat()})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            resp = stub.QueryRecords(pb.QueryRecordsRequest(resource_id="kualitas-udara-ispu-per-jam", filters=filters,
                                                            include_total=False), timeout=10)
            if resp.records_json != "[]":
                lags.append((datetime.now(timezone.utc) - event.time).total_seconds() * 1000)
                break
            time.sleep(0.01)
        else:
            print(f"  event {i} not visible after 30 s")
        time.sleep(0.1)
    print("freshness: reading published (ce_time) -> hourly ISPU row visible through QueryRecords:")
    print(line("ce_time to visible", lags))


def bench_burst(bootstrap: str, stub, n: int) -> None:
    """n readings published as fast as librdkafka sends them; time until the last one is visible."""
    if n <= 0:
        return
    producer = make_producer(bootstrap)
    device = f"BURST{uuid.uuid4().hex[:6].upper()}"
    hour0 = datetime(2031, 1, 1, tzinfo=timezone.utc)
    t0 = time.perf_counter()
    for i in range(n):
        at = hour0 + timedelta(seconds=30 * i)
        reading = SensorReading(device_id=device, quantity="pm25", unit="ug/m3", value=float(i % 90),
                                observed_at_ms=int(at.timestamp() * 1000))
        event = envelope.Event(type=reading.ce_type, source="/kota/bench", subject=device, data=reading.to_data(),
                               id=f"{device}/pm25/{reading.observed_at_ms}")
        key, value, headers = envelope.encode(event, device)
        while True:
            try:
                producer.produce("sensors.readings.v1", key=key, value=value, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)
    t_sent = time.perf_counter()
    last_hour = (hour0 + timedelta(seconds=30 * (n - 1))).replace(minute=0, second=0, tzinfo=None).isoformat()
    expected = len([i for i in range(n) if (hour0 + timedelta(seconds=30 * i)).replace(minute=0, second=0, tzinfo=None)
                    .isoformat() == last_hour])
    filters = struct_pb2.Struct()
    filters.update({"station_id": device, "hour": last_hour})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        resp = stub.QueryRecords(pb.QueryRecordsRequest(resource_id="kualitas-udara-ispu-per-jam", filters=filters,
                                                        include_total=False), timeout=10)
        rows = json.loads(resp.records_json)
        if rows and rows[0]["samples"] == expected:
            break
        time.sleep(0.05)
    t_done = time.perf_counter()
    print(f"burst: {n} readings published in {t_sent - t0:.1f} s; all applied and visible after {t_done - t0:.1f} s "
          f"({n / (t_done - t0):.0f} readings/s end to end)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--generic", action="store_true", help="also measure a generic JSON record table")
    parser.add_argument("--burst", type=int, default=20000, help="readings for the throughput line (0: skip)")
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


def run(args) -> None:
    work = bench_workdir("kota-bench-opendata-")
    url = args.database_url or f"sqlite:///{work / 'opendata.db'}"
    broker = None
    bootstrap = os.environ.get("KOTA_KAFKA_BOOTSTRAP")
    if not bootstrap:
        from kota_common.broker import start_embedded_broker

        bootstrap = f"127.0.0.1:{free_port()}"
        broker = start_embedded_broker(bootstrap, work / "broker.log")
    print(f"database {url.split('@')[-1]}; broker {bootstrap}")
    load(url, args.rows)
    address = f"127.0.0.1:{free_port()}"
    env = {"KOTA_KAFKA_BOOTSTRAP": bootstrap, "KOTA_OPENDATA_DATABASE_URL": url, "KOTA_OPENDATA_GRPC_ADDRESS": address,
           "KOTA_OPENDATA_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:6]}", "KOTA_LOG_LEVEL": "WARNING"}
    proc = ServiceProcess("kota_opendata", env, address, work / "opendata.log").start()
    try:
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.OpenDataServiceStub(channel)
            bench_queries(url, stub, args.queries)
            if args.generic:
                bench_generic(url, args.queries)
            time.sleep(3)  # the consumer group forms
            bench_freshness(bootstrap, stub, args.events)
            bench_burst(bootstrap, stub, args.burst)
    finally:
        proc.stop()
        if broker:
            broker.terminate()
    print(f"(work files in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
