"""Every service ships the same shape: package layout, Dockerfile, compose entry, Kubernetes manifest."""

from pathlib import Path

import pytest
import yaml

from kota_common.registration import installed_services

ROOT = Path(__file__).resolve().parents[1]
SERVICES = installed_services()


def test_every_service_in_the_tree_registers_itself_for_kota_up():
    """A service is found by `kota up` and `kota service` through its `kota.services` entry point only."""
    in_tree = {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}
    assert {s.name for s in SERVICES} == in_tree


def test_libs_common_imports_no_service():
    names = {f"kota_{s.name}" for s in SERVICES}
    offending = [f"{path.relative_to(ROOT)}: {name}" for path in sorted((ROOT / "libs/common/src").rglob("*.py"))
                 for name in names if name in path.read_text()]
    assert not offending


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
def test_service_has_the_common_shape_and_deploys(name):
    package = ROOT / "services" / name / "src" / f"kota_{name}"
    for part in ("domain", "service_layer", "adapters", "entrypoints", "config.py", "__main__.py"):
        assert (package / part).exists(), f"{package / part} missing"
    assert (ROOT / "services" / name / "Dockerfile").exists()
    assert name in yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    base = yaml.safe_load((ROOT / "deploy/k8s/base/kustomization.yaml").read_text())
    assert f"{name}.yaml" in base["resources"]
    kinds = {d["kind"] for d in yaml.safe_load_all((ROOT / f"deploy/k8s/base/{name}.yaml").read_text())}
    assert {"Deployment", "Service"} <= kinds


def test_every_topic_is_documented_in_asyncapi():
    import json

    from kota_common.events import topics

    doc = json.loads((ROOT / "docs/asyncapi/asyncapi.json").read_text())
    addresses = {c["address"] for c in doc["channels"].values()}
    for name, spec in topics().items():
        assert name in addresses and spec.dlq in addresses


def _known_settings() -> set[str]:
    """Every environment variable a Kota process reads: each settings class's prefix + field name or alias."""
    from pydantic import AliasChoices

    from kota_common.photos import PhotoSettings
    from kota_common.settings import CommonSettings

    names = set()
    for model in (CommonSettings, PhotoSettings, *(s.settings for s in SERVICES)):
        prefix = model.model_config.get("env_prefix", "")
        for name, field in model.model_fields.items():
            names.add((prefix + name).upper())
            alias = field.validation_alias
            for choice in alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []:
                if isinstance(choice, str):
                    names.add((prefix + choice).upper())
    return names


def test_deployments_set_only_settings_that_exist():
    """A misspelt variable in compose or Kubernetes would be ignored silently (extra="ignore"), leaving a
    default in production: e.g. a TLS listener that never starts."""
    import re

    files = [ROOT / "docker-compose.yml", *sorted((ROOT / "deploy/k8s").rglob("*.yaml"))]
    known = _known_settings()
    unknown = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in re.findall(r"\bKOTA_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())
        if name not in known
    }
    assert not unknown


def _settings_of(service: str) -> set[str]:
    """The variables one service reads: the shared ones (KOTA_) and its own settings class's."""
    from kota_common.settings import CommonSettings

    by_name = {s.name: s for s in SERVICES}
    return _settings_names(CommonSettings) | _settings_names(by_name[service].settings)


def _settings_names(model) -> set[str]:
    from pydantic import AliasChoices
    from pydantic_settings import BaseSettings

    prefix = model.model_config.get("env_prefix", "")
    names = set()
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
            names |= _settings_names(field.annotation)  # settings of their own prefix (common, photos)
            continue
        names.add((prefix + name).upper())
        alias = field.validation_alias
        for choice in alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []:
            if isinstance(choice, str):
                names.add((prefix + choice).upper())
    return names


def _kota_variables(environment) -> set[str]:
    if isinstance(environment, dict):
        names = set(environment)
    else:
        names = {e["name"] if isinstance(e, dict) else str(e).split("=")[0] for e in environment or []}
    return {n for n in names if n.startswith("KOTA_")}


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
def test_each_service_is_given_only_its_own_settings(name):
    """Per container: every KOTA_ variable that compose or a Kubernetes manifest (base and overlays' patches) sets
    for a service is one that service reads: e.g. a collab address given to the gateway is a mistake."""
    own = _settings_of(name)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][name]
    wrong = {f"docker-compose.yml: {v}" for v in _kota_variables(compose.get("environment")) - own}
    for path in sorted((ROOT / "deploy/k8s").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            patches = [yaml.safe_load(p["patch"]) for p in doc.get("patches", []) if "patch" in p]
            for obj in [doc, *(p for p in patches if isinstance(p, dict))]:
                if obj.get("kind") != "Deployment" or obj.get("metadata", {}).get("name") != name:
                    continue
                for container in obj["spec"]["template"]["spec"]["containers"]:
                    wrong |= {f"{path.relative_to(ROOT)}: {v}" for v in _kota_variables(container.get("env")) - own}
    assert not wrong


def _topics() -> set[str]:
    from kota_common.events import topics

    return {name for spec in topics().values() for name in (spec.name, spec.dlq)}


def test_every_topic_and_dlq_has_a_kafka_topic_in_production():
    """Production's broker makes no topic by itself (auto.create.topics.enable false): each one the event
    registry names, and its DLQ, is a Strimzi KafkaTopic with replicas 3 and a retention; and nothing more."""
    path = ROOT / "deploy/k8s/overlays/production/kafka-topics.yaml"
    declared = {d["spec"]["topicName"]: d["spec"] for d in yaml.safe_load_all(path.read_text()) if d}
    assert set(declared) == _topics()
    for name, spec in declared.items():
        assert spec["replicas"] == 3 and spec["partitions"] >= 1, name
        assert int(spec["config"]["retention.ms"]) > 0 and spec["config"]["min.insync.replicas"] == 2, name


def test_every_topic_and_dlq_is_made_by_compose_before_the_services_start():
    """compose's kafka-init makes each topic of the registry and its DLQ (partitions, retention), and the services
    wait for it to finish."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    rows = [line.split() for line in compose["kafka-init"]["environment"]["TOPICS"].splitlines() if line.strip()]
    assert {row[0] for row in rows} == _topics()
    assert all(len(row) == 3 and int(row[1]) >= 1 and int(row[2]) > 0 for row in rows), rows
    production = {d["spec"]["topicName"]: d["spec"] for d in
                  yaml.safe_load_all((ROOT / "deploy/k8s/overlays/production/kafka-topics.yaml").read_text()) if d}
    for topic, partitions, retention in rows:
        assert (int(partitions), int(retention)) == (production[topic]["partitions"],
                                                     int(production[topic]["config"]["retention.ms"])), topic
    for s in SERVICES:
        if s.name != "gateway":  # the gateway uses no topic: it waits for the services it calls
            assert compose[s.name]["depends_on"]["kafka-init"] == {"condition": "service_completed_successfully"}
