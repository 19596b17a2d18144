import pytest

from kota_common.errors import InvalidArgument
from kota_opendata.adapters.datastore import FieldDef
from kota_opendata.service_layer.records import validate_query

FIELDS = [FieldDef("station_id", "text"), FieldDef("ispu", "int"), FieldDef("pm25", "numeric"), FieldDef("ok", "bool")]


def test_query_validation_types_filters_and_parses_sort():
    q = validate_query(FIELDS, filters={"station_id": ["DKI1", "DKI2"], "ispu": 50.0, "ok": "true"}, q="Bundaran HI",
                       sort="ispu desc, station_id", limit=None, offset=0, select_fields=[], include_total=None)
    assert q.filters == {"station_id": ["DKI1", "DKI2"], "ispu": [50], "ok": [True]}
    assert q.sort == [("ispu", True), ("station_id", False)]
    assert q.limit == 100 and q.include_total and q.words == ["bundaran", "hi"]


def test_query_validation_collects_every_violation():
    with pytest.raises(InvalidArgument) as err:
        validate_query(FIELDS, filters={"nope": 1, "ispu": "high"}, q="", sort="pm25 sideways", limit=50000,
                       offset=-1, select_fields=["x"], include_total=None)
    fields = [f for f, _ in err.value.violations]
    assert fields == ["filters.nope", "filters.ispu", "sort", "limit", "offset", "fields"]
