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
