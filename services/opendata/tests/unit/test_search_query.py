"""package_search's q/fq/sort parsed into a plan: what harvesters and front-ends send, and what is refused."""

from datetime import datetime, timezone

import pytest

from kota_opendata.domain import search_query as sq
from kota_opendata.domain.search_query import And, Match, MatchAll, MatchNone, Not, Or, QueryError, Range

NOW = datetime(2026, 12, 7, 15, 30, 45, 123456, tzinfo=timezone.utc)


def where(text: str, param: str = "fq"):
    return sq.parse(text, param, NOW)[0]


def test_the_harvesters_incremental_filter_is_a_range_on_metadata_modified():
    # ckanext-harvest: 'metadata_modified:[{since}Z TO *]' with since = (last run - 1 hour).isoformat()
    assert where("metadata_modified:[2026-12-07T14:30:00.123456Z TO *]") == Range(
        "metadata_modified", datetime(2026, 12, 7, 14, 30, 0, 123456), None)
    assert where("metadata_modified:{2026-01-01 TO 2026-02-01T00:00:00Z]") == Range(
        "metadata_modified", datetime(2026, 1, 1), datetime(2026, 2, 1), include_low=False)


def test_the_harvesters_organization_filters_and_the_since_filter_all_hold():
    node = where("organization:dlh OR organization:dsda -groups:pengaduan metadata_modified:[NOW-1DAY TO *]")
    assert node == And((
        Or((Match("organization", "dlh"), Match("organization", "dsda"))),
        Not(Match("groups", "pengaduan")),
        Range("metadata_modified", datetime(2026, 12, 6, 15, 30, 45, 123456), None),
    ))


def test_solr_date_math_and_rounding():
    assert sq.parse_date("NOW/DAY", NOW) == datetime(2026, 12, 7)
    assert sq.parse_date("NOW-1DAY/DAY", NOW) == datetime(2026, 12, 6)
    assert sq.parse_date("NOW+2HOURS", NOW) == datetime(2026, 12, 7, 17, 30, 45, 123456)
    assert sq.parse_date("2026-03-31T00:00:00Z-1MONTH", NOW) == datetime(2026, 2, 28)
    assert sq.parse_date("2026-01-01T07:00:00+07:00", NOW) == datetime(2026, 1, 1)
    assert sq.parse_date("NOW/YEAR+1YEAR", NOW) == datetime(2027, 1, 1)
    with pytest.raises(ValueError, match="not a date"):
        sq.parse_date("yesterday", NOW)
    with pytest.raises(ValueError, match="unknown date unit"):
        sq.parse_date("NOW-1FORTNIGHT", NOW)


def test_quoted_phrases_wildcards_and_existence():
    assert where('tags:"kualitas udara"') == Match("tags", "kualitas udara")
    assert where('title:"tinggi  muka air"') == Match("title", "tinggi muka air", "phrase")
    assert where("name:tinggi*") == Match("name", "tinggi*", "pattern")
    assert where(r"name:a\*b") == Match("name", "a*b")
    assert where("tags:*") == Match("tags", "", "any")
    assert where("*:*") == MatchAll() and where("") == MatchAll()


def test_boolean_operators_and_grouping():
    assert where("tags:banjir AND NOT organization:dsda") == And((Match("tags", "banjir"),
                                                                 Not(Match("organization", "dsda"))))
    assert where("tags:(banjir OR sensor)") == Or((Match("tags", "banjir"), Match("tags", "sensor")))
    assert where("(tags:a || tags:b) && !license_id:cc0-1.0") == And((
        Or((Match("tags", "a"), Match("tags", "b"))), Not(Match("license_id", "cc0-1.0"))))
    assert where("+tags:a -tags:b") == And((Match("tags", "a"), Not(Match("tags", "b"))))


def test_free_text_words_must_all_appear_and_score_only_when_wanted():
    node, words = sq.parse("kualitas udara -banjir", "q", NOW)
    assert node == And((Match(None, "kualitas"), Match(None, "udara"), Not(Match(None, "banjir"))))
    assert where("kualitas-udara") == And((Match(None, "kualitas"), Match(None, "udara")))
    assert words == ["kualitas", "udara"]
    assert sq.parse("kualitas", "fq", NOW)[1] == []  # filters do not score


def test_fields_every_dataset_shares_are_decided_before_sql():
    assert where("dataset_type:dataset") == MatchAll()
    assert where("+state:active +capacity:public") == And((MatchAll(), MatchAll()))
    assert where("state:deleted") == MatchNone()
    assert where("-private:true") == Not(MatchNone())


def test_sort_on_any_indexed_field_with_id_as_the_final_tie_break():
    assert sq.parse_sort("id asc") == (("id", False),)
    assert sq.parse_sort("metadata_modified desc") == (("metadata_modified", True), ("id", False))
    assert sq.parse_sort("") == (("score", True), ("metadata_modified", True), ("id", False))
    assert sq.parse_sort("title_string asc, name") == (("title_string", False), ("name", False), ("id", False))


def test_the_plan_combines_q_and_every_fq():
    plan = sq.plan("udara", ["tags:sensor", "organization:dlh"], "name asc", 20, 5, ["tags"], -1, NOW)
    assert plan.where == And((Match(None, "udara"), Match("tags", "sensor"), Match("organization", "dlh")))
    assert (plan.start, plan.rows, plan.facet_fields, plan.facet_limit, plan.score_words) == (
        20, 5, ("tags",), -1, ("udara",))


@pytest.mark.parametrize("kwargs,param,message", [
    ({"fq": "colour:red"}, "fq", "unknown field 'colour'"),
    ({"q": "title:[a TO b]"}, "q", "cannot take a range"),
    ({"fq": "tags:[a TO b]"}, "fq", "cannot take a range"),
    ({"fq": 'tags:"open'}, "fq", "unbalanced quotes"),
    ({"fq": "metadata_modified:[2026-01-01 TO *"}, "fq", "unclosed range"),
    ({"fq": "metadata_modified:[yesterday TO *]"}, "fq", "not a date"),
    ({"fq": "metadata_modified:[2026-01-01 *]"}, "fq", "[low TO high]"),
    ({"fq": "metadata_modified:2026*"}, "fq", "wildcards need a range"),
    ({"fq": "(tags:a"}, "fq", "ends too early"),
    ({"fq": "tags:a)"}, "fq", "unexpected ')'"),
    ({"fq": "tags: a"}, "fq", "has no value"),
    ({"fq": "tags:(name:x)"}, "fq", "a field inside"),
    ({"q": "[a TO b]"}, "q", "a range needs a field"),
    ({"fq": "tags:a AND"}, "fq", "ends too early"),
    ({"fq": " ".join(["tags:a"] * 700)}, "fq", "too long"),
    ({"sort": "size desc"}, "sort", "cannot sort by 'size desc'"),
    ({"sort": "name upwards"}, "sort", "cannot sort"),
    ({"facet_fields": ["colour"]}, "facet.field", "cannot facet"),
    ({"rows": 1001}, "rows", "between 0 and 1000"),
    ({"start": -1}, "start", "negative"),
])
def test_what_cannot_be_planned_is_refused_naming_the_parameter(kwargs, param, message):
    with pytest.raises(QueryError) as err:
        sq.plan(now=NOW, **kwargs)
    assert err.value.field == param and message in str(err.value)
