"""Validates the Strimzi and CloudNativePG resources of rendered manifests against those operators' own CRD schemas
(their openAPIV3Schema, copied into crd-schemas/: see its README.md). Run by scripts/check-deploy:
    python deploy/k8s/validate_vendored_crds.py <rendered.yaml>...
Strict as `kubectl apply --validate=strict`: a field the schema does not name is an error, as a wrong type or a
missing required field is; a resource of those groups whose version the schemas do not serve is an error too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import yaml

SCHEMAS = Path(__file__).resolve().parent / "crd-schemas"
GROUPS = {"kafka.strimzi.io", "postgresql.cnpg.io"}


def strict(schema):
    """Objects with named properties admit no others, unless the schema says unknown fields are kept."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if (schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def main(paths: list[str]) -> int:
    validators = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        group, version, kind = path.stem.split("_")
        validators[(f"{group}/{version}", kind)] = jsonschema.Draft7Validator(strict(json.loads(path.read_text())))
    failed, checked = 0, {}
    for path in paths:
        for obj in yaml.safe_load_all(Path(path).read_text()):
            if not obj or obj["apiVersion"].split("/")[0] not in GROUPS:
                continue
            key = (obj["apiVersion"], obj["kind"])
            name = f"{path}: {obj['apiVersion']} {obj['kind']} {obj['metadata']['name']}"
            validator = validators.get(key)
            if validator is None:
                print(f"{name}: no schema (the vendored operators do not serve this version)", file=sys.stderr)
                failed += 1
                continue
            errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
            for error in errors:
                print(f"{name}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}", file=sys.stderr)
            failed += bool(errors)
            checked[key] = checked.get(key, 0) + 1
    for (version, kind), count in sorted(checked.items()):
        print(f"custom resources: {count} {version}/{kind} checked", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
