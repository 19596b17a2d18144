"""Every service ships the same shape: package layout, Dockerfile, compose entry, Kubernetes manifest."""

from pathlib import Path

import pytest
import yaml

from kota_common.cli import SERVICES

ROOT = Path(__file__).resolve().parents[1]


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

    doc = json.loads((ROOT / "docs/asyncapi.json").read_text())
    addresses = {c["address"] for c in doc["channels"].values()}
    for name, spec in topics().items():
        assert name in addresses and spec.dlq in addresses
