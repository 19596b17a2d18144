"""Loads a city's complaint reference data (agencies, categories, routing rules) into the database."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from kota_complaints.adapters.orm import AgencyRow, RoutingRuleRow, ServiceCategoryRow


def read_reference(path: str = "") -> dict:
    if path:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    return json.loads(resources.files("kota_complaints.reference").joinpath("jakarta.json").read_text(encoding="utf-8"))


def seed_reference(engine: Engine, doc: dict) -> bool:
    """Inserts the reference data when the database has none yet. Returns whether it seeded."""
    with Session(engine) as session:
        if session.exec(select(AgencyRow).limit(1)).first() is not None:
            return False
        for a in doc["agencies"]:
            session.add(AgencyRow(**a))
        session.flush()
        for c in doc["categories"]:
            session.add(
                ServiceCategoryRow(
                    code=c["code"],
                    name=c["name"],
                    description=c.get("description", ""),
                    group=c.get("group", ""),
                    agency_code=c["agency_code"],
                    sla_hours=c["sla_hours"],
                    keywords=json.dumps(c.get("keywords", [])),
                    attributes=json.dumps(c.get("attributes", [])),
                )
            )
        session.flush()
        for r in doc["routing_rules"]:
            session.add(RoutingRuleRow(**r))
        session.commit()
    return True
