"""The OGC SensorThings API v1.1 data model (OGC 18-088, 8.2), the part both sides of Kota's SensorThings read
side share: the gateway parses and checks a query against it, the sensors service runs the plan against it."""

from __future__ import annotations

# entity set -> navigation property -> (target set, leads to many)
NAVIGATION: dict[str, dict[str, tuple[str, bool]]] = {
    "Things": {"Locations": ("Locations", True), "HistoricalLocations": ("HistoricalLocations", True),
               "Datastreams": ("Datastreams", True)},
    "Locations": {"Things": ("Things", True), "HistoricalLocations": ("HistoricalLocations", True)},
    "HistoricalLocations": {"Thing": ("Things", False), "Locations": ("Locations", True)},
    "Datastreams": {"Thing": ("Things", False), "Sensor": ("Sensors", False),
                    "ObservedProperty": ("ObservedProperties", False), "Observations": ("Observations", True)},
    "Sensors": {"Datastreams": ("Datastreams", True)},
    "ObservedProperties": {"Datastreams": ("Datastreams", True)},
    "Observations": {"Datastream": ("Datastreams", False), "FeatureOfInterest": ("FeaturesOfInterest", False)},
    "FeaturesOfInterest": {"Observations": ("Observations", True)},
}
ENTITY_SETS = tuple(NAVIGATION)

# Kota's limits on one request: the largest page, and how deep `$expand` may nest.
MAX_TOP = 1000
MAX_EXPAND_DEPTH = 5
