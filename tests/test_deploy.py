"""The deployment's promises that a schema cannot check (./scripts/check-deploy renders and validates the
manifests themselves): hardened pods, probes, budgets and autoscalers for every service, one ServiceMonitor each,
KEDA for the consumers, only the gateway and collab's mutual-TLS port open to the outside, no secret with a
default, every service scraped, and dashboards and alerts that query metrics the services really export."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kota_common.registration import installed_services

ROOT = Path(__file__).resolve().parents[1]
SERVICES = [s.name for s in installed_services()]
K8S = ROOT / "deploy/k8s"
# the consumer groups of each service (kota_<name>.entrypoints.subscribers); the gateway and collab have none
CONSUMERS = {"sensors", "opendata", "musrenbang", "notifications", "complaints"}


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_runs_hardened_with_probes_budget_and_spread(name):
    objects = {d["kind"]: d for d in docs(K8S / "base" / f"{name}.yaml")}
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {"kubernetes.io/hostname",
                                                                             "topology.kubernetes.io/zone"}
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and \
            {"cpu", "memory"} <= set(container["resources"]["limits"])
        probe = "httpGet" if name == "gateway" else "grpc"
        assert probe in container["readinessProbe"] and probe in container["livenessProbe"]
        if name == "gateway":  # a gateway whose complaints are late must not be restarted for it: /healthz
            assert container["livenessProbe"]["httpGet"]["path"] == container["startupProbe"]["httpGet"]["path"] == "/healthz"
    budget = objects["PodDisruptionBudget"]["spec"]
    assert budget["selector"]["matchLabels"] == {"app": name}


@pytest.mark.parametrize("name", ["gateway", "complaints"])
def test_gateway_and_complaints_keep_two_replicas_at_least(name):
    objects = {d["kind"]: d for d in docs(K8S / "base" / f"{name}.yaml")}
    assert objects["Deployment"]["spec"]["replicas"] >= 2
    assert objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2
    assert compose()["services"][name]["deploy"]["replicas"] == 2


def test_the_gateway_reaches_every_complaints_replica():
    """Kubernetes: a headless Service (one address per pod) that the gateway's round_robin channel resolves;
    compose: the service name, which resolves to both replicas."""
    gateway = {d["kind"]: d for d in docs(K8S / "base/gateway.yaml")}["Deployment"]
    env = {e["name"]: e.get("value") for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    host = env["KOTA_GATEWAY_COMPLAINTS_ADDRESS"].rpartition(":")[0]
    headless = [d for d in docs(K8S / "base/complaints.yaml") if d["kind"] == "Service" and d["metadata"]["name"] == host]
    assert headless and headless[0]["spec"]["clusterIP"] == "None"
    assert compose()["services"]["gateway"]["environment"]["KOTA_GATEWAY_COMPLAINTS_ADDRESS"] == "complaints:50051"


def test_production_monitors_every_service_and_scales_consumers_on_lag():
    production = K8S / "overlays/production"
    monitors = {d["metadata"]["name"]: d for d in docs(production / "service-monitors.yaml")}
    assert set(monitors) == set(SERVICES)
    for name, monitor in monitors.items():
        service = next(d for d in docs(K8S / "base" / f"{name}.yaml") if d["kind"] == "Service")
        ports = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports and "metrics" in ports
    keda = docs(production / "keda.yaml")
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in keda if d["kind"] == "ScaledObject"}
    # complaints scales on CPU (its HPA): two autoscalers on one Deployment would fight
    assert set(scaled) == CONSUMERS - {"complaints"}
    for name, obj in scaled.items():
        groups = {t["metadata"]["consumerGroup"] for t in obj["spec"]["triggers"] if t["type"] == "kafka"}
        assert groups and all(g.startswith(f"kota-{name}") for g in groups), (name, groups)
        for trigger in obj["spec"]["triggers"]:  # as the KafkaUser keda, on the cluster's only (TLS) listener
            assert trigger["metadata"]["tls"] == "enable" and trigger["authenticationRef"] == {"name": "kafka-keda"}
    [auth] = [d for d in keda if d["kind"] == "TriggerAuthentication"]
    assert {(r["parameter"], r["name"]) for r in auth["spec"]["secretTargetRef"]} == {
        ("ca", "kota-cluster-ca-cert"), ("cert", "keda"), ("key", "keda")}


def test_kafka_users_are_limited_to_registered_topics():
    from kota_common.events import topics

    known = {name for spec in topics().values() for name in (spec.name, spec.dlq)}
    users = docs(K8S / "overlays/production/kafka-users.yaml")
    # the gateway uses no topic; KEDA reads consumer lag
    assert {u["metadata"]["name"] for u in users} == set(SERVICES) - {"gateway"} | {"keda"}
    for user in users:
        for acl in user["spec"]["authorization"]["acls"]:
            if user["metadata"]["name"] == "keda":  # every topic and group, but only described
                assert acl["operations"] == ["Describe"], acl
            elif acl["resource"]["type"] == "topic":
                assert acl["resource"]["patternType"] == "literal" and acl["resource"]["name"] in known, acl
                assert "All" not in acl["operations"]


def test_in_production_each_service_is_its_own_kafka_user_and_acls_are_enforced():
    """The cluster's one listener is mutual TLS with simple authorization, and each service's Kafka clients
    present the certificate of the KafkaUser named after it (KOTA_KAFKA_SSL_*, files from its Secret)."""
    from kota_common.settings import CommonSettings

    production = K8S / "overlays/production"
    [kafka] = [d for d in docs(production / "kafka.yaml") if d["kind"] == "Kafka"]
    assert [(x["port"], x["tls"], x["authentication"]["type"]) for x in kafka["spec"]["kafka"]["listeners"]] == [
        (9093, True, "tls")]
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}
    users = {u["metadata"]["name"] for u in docs(production / "kafka-users.yaml")}
    patched = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs(production / "kafka-clients.yaml")}
    assert set(patched) == users - {"keda"}
    for name, pod in patched.items():
        [container] = pod["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["KOTA_KAFKA_BOOTSTRAP"].endswith(":9093") and env["KOTA_KAFKA_SECURITY_PROTOCOL"] == "SSL"
        assert set(env) <= {f"KOTA_{field.upper()}" for field in CommonSettings.model_fields}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"]}
        for variable, secret in (("KOTA_KAFKA_SSL_CERTFILE", name), ("KOTA_KAFKA_SSL_KEYFILE", name),
                                 ("KOTA_KAFKA_SSL_CAFILE", "kota-cluster-ca-cert")):
            directory = env[variable].rpartition("/")[0]
            assert secrets[mounts[directory]] == secret, (name, variable)


def test_only_the_gateway_and_collabs_mutual_tls_port_are_open_to_the_outside():
    """Default deny; a rule without `from` admits any source, so those are the outside's ways in (production
    adds sensors' MQTT over TLS for the field devices)."""
    policies = docs(K8S / "base/network-policies.yaml") + docs(K8S / "overlays/production/network-policies.yaml")
    deny = next(p for p in policies if p["metadata"]["name"] == "default-deny")
    assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    open_to_all = {
        (p["spec"]["podSelector"].get("matchLabels", {}).get("app"), port["port"])
        for p in policies
        for rule in p["spec"].get("ingress", [])
        if "from" not in rule
        for port in rule["ports"]
    }
    assert open_to_all == {("gateway", 8080), ("collab", 50155), ("sensors", 8883)}


def test_prometheus_may_scrape_every_pod_of_the_base():
    """allow-metrics-scrape selects pods by a label the base's kustomization puts on pod templates too."""
    policy = next(p for p in docs(K8S / "base/network-policies.yaml") if p["metadata"]["name"] == "allow-metrics-scrape")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    labels = yaml.safe_load((K8S / "base/kustomization.yaml").read_text())["labels"]
    assert any(entry["pairs"] == selector and entry.get("includeTemplates") for entry in labels)


def test_one_collector_config_and_one_database_script_for_compose_and_kubernetes():
    collector = next(d for d in docs(K8S / "base/otel-collector.yaml") if d["kind"] == "ConfigMap")
    assert collector["data"]["collector.yaml"] == (ROOT / "deploy/otel/collector.yaml").read_text()
    assert (K8S / "overlays/dev/postgres-init-databases.sh").read_text() == \
        (ROOT / "deploy/postgres/init-databases.sh").read_text()
    script = (ROOT / "deploy/postgres/init-databases.sh").read_text()
    assert all(name in script for name in SERVICES if name != "gateway")


def test_kubernetes_alerts_are_composes():
    rules = next(d for d in docs(K8S / "overlays/production/prometheus-rules.yaml") if d["kind"] == "PrometheusRule")
    assert rules["spec"] == yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    runbooks = (ROOT / "docs/operations.md").read_text().lower()
    for group in rules["spec"]["groups"]:
        for rule in group["rules"]:
            anchor = rule["annotations"]["runbook"].partition("#")[2]
            assert f"## {anchor.replace('-', ' ')}" in runbooks, rule["alert"]


def test_compose_has_no_secret_with_a_default_and_waits_on_health():
    text = (ROOT / "docker-compose.yml").read_text()
    secrets = re.findall(r"\$\{([A-Z0-9_]*(?:SECRET|KEY|KEYS|PASSWORD)[A-Z0-9_]*)([^}]*)\}", text)
    assert secrets and all(rest.startswith(":?") for _name, rest in secrets), secrets
    services = compose()["services"]
    for name in SERVICES:
        dockerfile = (ROOT / "services" / name / "Dockerfile").read_text()
        assert "HEALTHCHECK" in dockerfile and "kota_common.healthcheck" in dockerfile, name
        for dependency, condition in services[name]["depends_on"].items():
            if dependency in SERVICES or dependency in ("postgres", "kafka"):
                assert condition == {"condition": "service_healthy"}, (name, dependency)
        assert services[name]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"


def test_prometheus_scrapes_every_services_metrics_port():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "kota")
    scraped = {(name, sd["port"]) for sd in job["dns_sd_configs"] for name in sd["names"]}
    services = compose()["services"]
    for name in SERVICES:
        address = next(v for k, v in services[name]["environment"].items() if k.endswith("_METRICS_ADDRESS"))
        assert (name, int(address.rpartition(":")[2])) in scraped, name


# Records one value on every instrument the services make, then lists the Prometheus series names: the same
# process-wide provider and reader (configure_metrics) and the same instruments as in the services.
EXPORTED = r"""
import json, sys, tempfile, types
from prometheus_client import generate_latest
from kota_common.metrics import configure_metrics, observe_outbox
configure_metrics("kota-test", "off")
from kota_common import eventbus
from kota_common.db.engines import make_engine
from kota_common.grpc_server import MetricsInterceptor
from kota_common.outbox import OutboxMessage
from kota_sensors.service_layer import metrics as sensors
labels = {"topic": "t", "group": "g"}
eventbus.EVENTS_HANDLED.add(1, labels)
eventbus.EVENTS_DEDUPLICATED.add(1, labels)
eventbus.EVENTS_DEAD_LETTERED.add(1, labels)
lag = eventbus.ConsumerLag("test")
lag.observe(types.SimpleNamespace(highwater=lambda tp: 10), "g", [types.SimpleNamespace(topic="t", partition=0, offset=1)])
MetricsInterceptor()._record(1.0, {"rpc.service": "s", "rpc.method": "m", "rpc.grpc.status_code": 0})
sensors.READINGS.add(1, {"outcome": "accepted"})
sensors.READINGS.add(1, {"outcome": "rejected", "reason": "range"})  # as the ingest path counts a refusal
sensors.ALERTS_RAISED.add(1, {"kind": "air", "level": "x"})
engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/outbox.db")
OutboxMessage.__table__.create(engine)
observe_outbox(engine, "test")
from fastapi.testclient import TestClient
from kota_gateway.__main__ import build_asgi
from kota_gateway.config import GatewaySettings
TestClient(build_asgi(GatewaySettings())).get("/asyncapi.json")
import re
names, labels = set(), set()
for line in generate_latest().decode().splitlines():
    if line and not line.startswith("#"):
        names.add(line.split("{")[0].split(" ")[0])
        labels |= set(re.findall(r'(\w+)="', line))
json.dump([sorted(names), sorted(labels)], sys.stdout)
"""


def test_dashboards_and_alerts_query_metrics_the_services_export(tmp_path):
    done = subprocess.run([sys.executable, "-c", EXPORTED], capture_output=True, text=True, timeout=240,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "KOTA_LOG_JSON": "false"})
    assert done.returncode == 0, done.stderr[-3000:]
    names, exported_labels = json.loads(done.stdout)
    exported, exported_labels = set(names) | {"up", "ALERTS"}, set(exported_labels)  # up, ALERTS: Prometheus's own
    queries = [t["expr"] for path in sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
               for panel in json.loads(path.read_text())["panels"] for t in panel["targets"]]
    queries += [rule["expr"] for group in yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
                for rule in group["rules"]]
    dashboards = {p.stem for p in (ROOT / "deploy/grafana/dashboards").glob("*.json")}
    assert dashboards >= {"kota-intake", "kota-ingest", "kota-consumer-lag", "kota-outbox", "kota-alerts", "kota-errors"}
    metrics, labels = set(), set()
    for query in queries:
        query = re.sub(r'"[^"]*"', '""', query)
        labels |= {name for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", query) for name in re.findall(r"\w+", group)}
        labels |= {name for selector in re.findall(r"\{([^}]*)\}", query) for name in re.findall(r"(\w+)\s*[=!]", selector)}
        query = re.sub(r"\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)", "", query)
        metrics |= set(re.findall(r"\b([a-zA-Z_][a-zA-Z0-9_]*)\b(?!\s*\()", query)) - {"by", "without", "and", "or", "unless"}
    # the labels Prometheus adds itself: the target's (instance, job, service) and the ALERTS series'
    labels -= {"le", "instance", "job", "service", "alertname", "alertstate"}
    assert metrics and not metrics - exported, sorted(metrics - exported)
    assert labels and not labels - exported_labels, sorted(labels - exported_labels)


@pytest.mark.integration
def test_the_database_script_gives_each_service_its_own_database_and_nothing_else():
    """deploy/postgres/init-databases.sh (compose's and dev's PostgreSQL) against a real cluster: a role and database
    per service, each role shut out of the others' databases; a missing password stops it."""
    import os
    import shutil

    import psycopg
    from sqlalchemy.engine import make_url

    from kota_common.testing import throwaway_postgres

    if shutil.which("psql") is None:
        if os.environ.get("KOTA_TEST_REQUIRE_POSTGRES") == "1":
            raise RuntimeError("psql is required here")
        pytest.skip("no psql on this machine")
    owners = [name for name in SERVICES if name != "gateway"]
    with throwaway_postgres() as server:
        url = make_url(server)
        env = {"PATH": os.environ["PATH"], "POSTGRES_USER": url.username, "PGHOST": url.host, "PGPORT": str(url.port)}
        script = str(ROOT / "deploy/postgres/init-databases.sh")
        missing = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=60)
        assert missing.returncode != 0 and "COMPLAINTS_DB_PASSWORD is not set" in missing.stderr
        env |= {f"{name.upper()}_DB_PASSWORD": f"pw-{name}" for name in owners}
        done = subprocess.run(["sh", script], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        for name in owners:
            with psycopg.connect(host=url.host, port=url.port, user=name, dbname=name, autocommit=True) as conn:
                conn.execute("CREATE TABLE mine (id int)")
                owner = conn.execute("SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_database "
                                     "WHERE datname = current_database()").fetchone()
                assert owner == (name,)
        other = owners[1]
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(host=url.host, port=url.port, user=owners[0], dbname=other).close()
