"""The SensorThings path and OData options parser: the plan it makes of every operator and function, and the
message (with its position) a client reads when it refuses."""

import pytest

from kota_common.standards.sensorthings import MAX_TOP
from kota_gateway.domain.odata import (
    FUNCTIONS,
    Function,
    Literal,
    ODataError,
    Operation,
    OrderBy,
    Property,
    Step,
    parse,
    parse_filter,
    parse_orderby,
    parse_path,
    to_json,
)


def refused(path: str, params: dict | None = None) -> tuple[int, str]:
    with pytest.raises(ODataError) as caught:
        parse(path, params or {})
    return caught.value.status, caught.value.message


def flt(text: str):
    return parse_filter(text)


def p(*path: str) -> Property:
    return Property(path)


def test_a_collection_gets_the_default_page():
    q = parse("Things", {})
    assert q.path.steps == (Step("Things"),) and q.is_collection and q.path.entity_set == "Things"
    o = q.options
    assert (o.top, o.skip, o.count, o.expand, o.select, o.filter, o.orderby) == (100, 0, False, (), (), None, ())


def test_entities_navigations_properties_and_values_by_path():
    assert parse_path("Things('DKI1')").steps == (Step("Things", "DKI1"),)
    assert parse_path("Things('O''Brien')").key == "O'Brien"
    nav = parse_path("Datastreams('DKI1:pm25')/Observations")
    assert nav.entity_set == "Observations" and not nav.single
    chain = parse_path("Observations('DKI1:pm25:1')/Datastream/Thing/Locations")
    assert chain.entity_set == "Locations" and not chain.single and len(chain.steps) == 4
    assert parse_path("Datastreams('DKI1:pm25')/Thing").single
    assert parse_path("Things('DKI1')/Datastreams('DKI1:pm25')").single
    named = parse_path("Things('DKI1')/name/$value")
    assert (named.property_name, named.raw_value, named.single) == ("name", True, True)
    assert parse_path("Things/$ref").ref


@pytest.mark.parametrize(("path", "status", "message"), [
    ("Unicorns", 404, "no entity set 'Unicorns'"),
    ("Things()", 404, "Things() needs an id"),
    ("Things/Datastreams", 404, "no such resource path: 'Things/Datastreams' (at 'Datastreams')"),
    ("Things('x')/Sensor", 404, "Things has no property or navigation property 'Sensor'"),
])
def test_a_path_the_model_does_not_have_is_a_404(path, status, message):
    assert refused(path) == (status, message)


def test_comparison_operators_each_compare_their_two_sides():
    for op in ("eq", "ne", "gt", "ge", "lt", "le"):
        assert flt(f"result {op} 3") == Operation(op, (p("result"), Literal(3, "int")))


def test_logical_operators_bind_or_loosest_then_and_then_not():
    a, b, c = (Operation("eq", (p(n), Literal(1, "int"))) for n in "abc")
    assert flt("a eq 1 or b eq 1 and c eq 1") == Operation("or", (a, Operation("and", (b, c))))
    assert flt("(a eq 1 or b eq 1) and c eq 1") == Operation("and", (Operation("or", (a, b)), c))
    assert flt("not a eq 1 and b eq 1") == Operation("and", (Operation("not", (a,)), b))
    assert flt("not not a eq 1") == Operation("not", (Operation("not", (a,)),))


def test_arithmetic_binds_tighter_than_comparison_mul_div_mod_tighter_than_add_sub():
    x = p("result")
    assert flt("result add 2 mul 3 gt 7") == Operation("gt", (
        Operation("add", (x, Operation("mul", (Literal(2, "int"), Literal(3, "int"))))), Literal(7, "int")))
    assert flt("result sub 1 sub 1 eq 0").args[0] == Operation("sub", (Operation("sub", (x, Literal(1, "int"))),
                                                                       Literal(1, "int")))
    for op in ("div", "mod"):
        assert flt(f"result {op} 2 eq 1").args[0] == Operation(op, (x, Literal(2, "int")))
    assert flt("-result lt -2.5") == Operation("lt", (Operation("neg", (x,)), Literal(-2.5, "float")))


def test_literals_of_every_type():
    def lit(text):
        return flt(f"x eq {text}").args[1]

    assert lit("'it''s'") == Literal("it's", "string")
    assert lit("42") == Literal(42, "int") and lit("4.5e1") == Literal(45.0, "float") and lit("7L") == Literal(7, "int")
    assert lit("true") == Literal(True, "bool") and lit("null") == Literal(None, "null")
    assert lit("2026-01-01T00:00:01.5Z") == Literal(1_767_225_601_500, "datetime")
    assert lit("2026-01-01T07:00:00+07:00") == Literal(1_767_225_600_000, "datetime")
    assert lit("1970-01-03") == Literal(2, "date")
    assert lit("01:00:00") == Literal(3_600_000, "time")
    assert lit("duration'P1DT1H'") == Literal(90_000_000, "duration")
    assert lit("geography'POINT(106.8 -6.2)'") == Literal({"type": "Point", "coordinates": [106.8, -6.2]}, "geo")
    assert lit("geography'LINESTRING(0 0, 1 1)'").value == {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    poly = lit("geography'SRID=4326;POLYGON((0 0, 1 0, 1 1, 0 0), (0.1 0.1, 0.2 0.1, 0.2 0.2, 0.1 0.1))'").value
    assert poly["type"] == "Polygon" and len(poly["coordinates"]) == 2


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_parses_with_its_arity_and_refuses_another(name):
    fewest, most = FUNCTIONS[name]
    args = ", ".join(["result"] * fewest)
    assert flt(f"{name}({args}) eq 1").args[0] == Function(name, tuple(p("result") for _ in range(fewest)))
    with pytest.raises(ODataError) as caught:
        flt(f"{name}({', '.join(['result'] * (most + 1))}) eq 1")
    assert f"{name} takes" in caught.value.message and "(at position 1)" in caught.value.message


def test_functions_nest_and_take_property_paths():
    assert flt("substringof('PM', Datastream/ObservedProperty/name)") == Function(
        "substringof", (Literal("PM", "string"), p("Datastream", "ObservedProperty", "name")))
    geo = flt("geo.intersects(FeatureOfInterest/feature, geography'POLYGON((0 0, 1 0, 1 1, 0 0))')")
    assert geo.name == "geo.intersects" and geo.args[0] == p("FeatureOfInterest", "feature")
    assert flt("st_within(Locations/location, geography'POINT(1 2)')").name == "st_within"
    assert flt("year(now()) ge 2026").args[0] == Function("year", (Function("now", ()),))


@pytest.mark.parametrize(("text", "message"), [
    ("name eq", "$filter: a value, property or function expected, found the end at position 8"),
    ("name eq 1 eq 2", "$filter: comparisons do not chain: use and, found 'eq' at position 11"),
    ("frob(1) eq 1", "$filter: unknown function 'frob' at position 1"),
    ("name eq 'open", "$filter: unexpected \"'\" at position 9"),
    ("(a eq 1", "$filter: ')' expected, found the end at position 8"),
    ("a eq 1)", "$filter: an operator or the end expected, found ')' at position 7"),
    ("a eq 1 b", "$filter: an operator or the end expected, found 'b' at position 8"),
    ("a eq # 1", "$filter: unexpected '#' at position 6"),
    ("and eq 1", "$filter: a value, property or function expected, found 'and' at position 1"),
    ("x eq geography'POINT(1)'", "$filter: invalid geo literal \"geography'POINT(1)'\" at position 6: "
                                 "a position is two numbers, not '1'"),
    ("x eq geography'POLYGON((0 0, 1 1, 0 1))'", "$filter: invalid geo literal"),
    ("x eq 2026-13-01T00:00:00Z", "$filter: invalid datetime literal '2026-13-01T00:00:00Z' at position 6"),
    ("x eq duration'soon'", "$filter: invalid duration literal"),
])
def test_a_malformed_filter_names_what_and_where(text, message):
    with pytest.raises(ODataError) as caught:
        parse_filter(text)
    assert caught.value.status == 400 and caught.value.message.startswith(message)


@pytest.mark.parametrize("text", [
    " and ".join(["a eq 1"] * 70), "(" * 70 + "a eq 1" + ")" * 70, "not " * 70 + "a eq 1", "-" * 70 + "1 eq a",
    "length(" * 70 + "a" + ")" * 70 + " eq 1",
])
def test_an_expression_nested_too_deep_is_refused_not_a_stack_overflow(text):
    with pytest.raises(ODataError, match="nested deeper than 64"):
        parse_filter(text)
    assert parse_filter(" and ".join(["not (length(a) eq -1)"] * 30)).op == "and"  # siblings are not nesting


def test_orderby_takes_expressions_with_directions():
    assert parse_orderby("result desc, phenomenonTime") == (OrderBy(p("result"), True), OrderBy(p("phenomenonTime")))
    assert parse_orderby("geo.distance(Locations/location, geography'POINT(1 2)') asc")[0].expr.name == "geo.distance"
    with pytest.raises(ODataError, match="unexpected ';' at position 12"):
        parse_orderby("result desc; drop")


def test_select_keeps_known_properties_and_navigation_links_and_refuses_others():
    q = parse("Things", {"$select": "id, name,Datastreams"})
    assert q.options.select == ("@iot.id", "name", "Datastreams")
    assert refused("Things", {"$select": "name,result"}) == (400, "$select: Things has no property 'result' (at position 6)")


def test_expand_reads_nested_options_at_every_level_and_paths_as_nesting():
    q = parse("Things", {"$expand": "Datastreams($top=2;$skip=1;$count=true;$select=name;$orderby=name desc;"
                                    "$filter=unitOfMeasurement/symbol eq 'cm';$expand=Observations($top=1)),"
                                    "Locations/Things($select=id)"})
    ds, loc = q.options.expand
    assert (ds.nav, ds.target, ds.to_many) == ("Datastreams", "Datastreams", True)
    assert (ds.options.top, ds.options.skip, ds.options.count, ds.options.select) == (2, 1, True, ("name",))
    assert ds.options.orderby == (OrderBy(p("name"), True),) and ds.options.filter is not None
    assert ds.options.expand[0].nav == "Observations" and ds.options.expand[0].options.top == 1
    assert loc.nav == "Locations" and loc.options.expand[0].options.select == ("@iot.id",)
    merged = parse("Datastreams", {"$expand": "Thing/Locations,Thing/Datastreams"}).options.expand
    assert [e.nav for e in merged] == ["Thing"] and [e.nav for e in merged[0].options.expand] == ["Locations", "Datastreams"]


@pytest.mark.parametrize(("params", "message"), [
    ({"$expand": "Sensor"}, "$expand: Things has no navigation property 'Sensor' (at position 1)"),
    ({"$expand": "Datastreams($top=x)"}, "$top must be an integer, not 'x'"),
    ({"$expand": "Datastreams($filter=name eq)"}, "$filter: a value, property or function expected"),
    ({"$expand": "Datastreams($top=1"}, "$expand: unbalanced parentheses or quotes"),
    ({"$top": "-1"}, "$top must not be negative"),
    ({"$count": "yes"}, "$count must be true or false"),
    ({"$frob": "1"}, "unknown query option '$frob'"),
    ({"$resultFormat": "csv"}, "$resultFormat: unknown format 'csv' (dataArray)"),
    ({"$resultFormat": "dataArray"}, "$resultFormat=dataArray applies to a collection of Observations"),
])
def test_refused_options_say_why(params, message):
    status, text = refused("Things", params)
    assert status == 400 and text.startswith(message)


def test_top_is_capped_and_data_array_is_read():
    assert parse("Things", {"$top": "5000"}).options.top == MAX_TOP
    assert parse("Datastreams('a:b')/Observations", {"$resultFormat": "dataArray"}).data_array


def test_the_plan_is_json_the_sensors_service_reads():
    q = parse("Datastreams('DKI1:pm25')/Observations", {"$filter": "result gt 30 and not (year(phenomenonTime) eq 2025)",
                                                        "$orderby": "result desc", "$top": "5", "$select": "result",
                                                        "$expand": "FeatureOfInterest"})
    plan = q.plan()
    assert plan["path"] == [{"name": "Datastreams", "key": "DKI1:pm25"}, {"name": "Observations", "key": None}]
    assert plan["filter"] == {"op": "and", "args": [
        {"op": "gt", "args": [{"prop": ["result"]}, {"lit": 30, "type": "int"}]},
        {"op": "not", "args": [{"op": "eq", "args": [{"fn": "year", "args": [{"prop": ["phenomenonTime"]}]},
                                                     {"lit": 2025, "type": "int"}]}]}]}
    assert plan["orderby"] == [{"expr": {"prop": ["result"]}, "desc": True}]
    assert (plan["top"], plan["select"], plan["expand"][0]["nav"]) == (5, ["result"], "FeatureOfInterest")
    assert to_json(Literal(None, "null")) == {"lit": None, "type": "null"}
