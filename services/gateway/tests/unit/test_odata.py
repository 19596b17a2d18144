"""The SensorThings path and OData options parser: what it accepts, and the message a client reads when not."""

from datetime import datetime, timezone

import pytest

from kota_gateway.domain.odata import ObservationFilter, ODataError, ResourcePath, parse


def refused(path: str, params: dict | None = None) -> tuple[int, str]:
    with pytest.raises(ODataError) as caught:
        parse(path, params or {})
    return caught.value.status, caught.value.message


def test_a_collection_gets_the_default_page_newest_first():
    q = parse("Things", {})
    assert q.path == ResourcePath("Things") and q.is_collection
    assert (q.top, q.skip, q.count, q.expand, dict(q.where), q.ascending) == (100, 0, False, (), {}, False)


def test_an_entity_and_a_navigation_by_quoted_key():
    assert parse("Things('DKI1')", {}).path == ResourcePath("Things", "DKI1")
    assert parse("Things('O''Brien')", {}).path.key == "O'Brien"
    assert parse("Datastreams('DKI1:pm25')/Observations", {}).path == ResourcePath("Datastreams", "DKI1:pm25", "Observations")


def test_top_is_capped_and_count_and_expand_are_read():
    q = parse("Things", {"$top": "5000", "$skip": "20", "$count": "TRUE", "$expand": "Datastreams($top=1), Locations/Things"})
    assert (q.top, q.skip, q.count, q.expand) == (1000, 20, True, ("Datastreams", "Locations"))


def test_entity_filters_become_the_services_selectors():
    q = parse("Things", {"$filter": "properties/kind eq 'air_quality' and @iot.id eq 'O''Brien'"})
    assert dict(q.where) == {"kind": "air_quality", "id": "O'Brien"}
    assert dict(parse("Datastreams", {"$filter": "ObservedProperty/@iot.id eq 'pm25'"}).where) == {"quantity": "pm25"}


def test_observation_filters_make_a_half_open_window_to_the_millisecond():
    q = parse("Observations", {"$filter": "phenomenonTime gt 2026-01-01T00:00:00Z and phenomenonTime le '2026-01-02T00:00:00' "
                                          "and result ge 30", "$orderby": "phenomenonTime asc"})
    assert q.observations == ObservationFilter(
        time_from=datetime(2026, 1, 1, 0, 0, 0, 1000, tzinfo=timezone.utc),
        time_to=datetime(2026, 1, 2, 0, 0, 0, 1000, tzinfo=timezone.utc),
        value_min=30.0,
    )
    assert q.ascending
    assert parse("Datastreams('A:b')/Observations", {"$filter": "result eq 2"}).observations == ObservationFilter(
        value_min=2.0, value_max=2.0)
    assert not parse("Observations", {"$orderby": "phenomenonTime desc"}).ascending


def test_options_a_target_does_not_use_are_not_checked():
    assert parse("Things('DKI1')", {"$filter": "anything at all", "$orderby": "name"}).path.key == "DKI1"
    assert parse("HistoricalLocations", {"$filter": "anything"}).is_collection


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("", {}, 404, "no such resource path: ''"),
        ("Things/Datastreams/Observations/x", {}, 404, "no such resource path: 'Things/Datastreams/Observations/x'"),
        ("Things(", {}, 404, "no such resource path: 'Things('"),
        ("Unicorns", {}, 404, "no entity set 'Unicorns'"),
        ("Things()", {}, 404, "Things() needs an id"),
        ("Things('A')/Datastreams('B')", {}, 404, "navigation by key is not supported"),
        ("Things", {"$top": "many"}, 400, "$top and $skip must be integers"),
        ("Things", {"$skip": "-1"}, 400, "$top and $skip must not be negative"),
        ("Things", {"$count": "yes"}, 400, "$count must be true or false"),
        ("Things", {"$filter": "name gt 'A'"}, 400,
         "$filter on Things: unsupported expression \"name gt 'A'\" (eq on: properties/kind, properties/owner_agency, @iot.id, id)"),
        ("ObservedProperties", {"$filter": "name eq 'x'"}, 400,
         "$filter on ObservedProperties: unsupported expression \"name eq 'x'\" (eq on: nothing)"),
        ("Observations", {"$filter": "substringof('x', name)"}, 400,
         "$filter: unsupported expression \"substringof('x', name)\" (use phenomenonTime or result with eq/ge/gt/le/lt, "
         "joined by and)"),
        ("Observations", {"$filter": "phenomenonTime ge yesterday"}, 400, "$filter: not an ISO 8601 time: 'yesterday'"),
        ("Observations", {"$filter": "result ge high"}, 400, "$filter: result compares with a number, not 'high'"),
        ("Observations", {"$orderby": "result desc; drop"}, 400, "$orderby: unsupported 'result desc; drop' (phenomenonTime asc|desc)"),
    ],
)
def test_refusals_carry_the_status_and_message_the_client_reads(path, params, status, message):
    assert refused(path, params) == (status, message)
