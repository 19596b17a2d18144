import pytest

from kota_opendata.domain.schema import CsvError, infer_type, parse_value, read_csv


def test_infers_types_and_reports_bad_rows_with_line_numbers():
    data = (
        b"Stasiun,Tanggal,PM 2.5,Aktif,Catatan\n"
        b"DKI1,2024-01-01,12.5,ya,baik\n"
        b"DKI2,2024-01-02,abc,tidak,x\n"
        b"DKI3,2024-01-03,14\n"
        b"DKI4,2024-01-04,20.1,ya,\n"
        b"DKI5,2024-01-05,7,tidak,ok\n"
    )
    parsed = read_csv(data)
    assert [(f.id, f.type) for f in parsed.fields] == [
        ("stasiun", "text"), ("tanggal", "date"), ("pm_2_5", "numeric"), ("aktif", "bool"), ("catatan", "text")]
    assert [f.label for f in parsed.fields][2] == "PM 2.5"
    assert [(e.row_number, e.field) for e in parsed.errors] == [(3, "pm_2_5"), (4, "")]
    assert "expected a number" in parsed.errors[0].reason and "columns" in parsed.errors[1].reason
    assert len(parsed.rows) == 3 and parsed.rows[1]["catatan"] is None and parsed.rows[2]["pm_2_5"] == 7.0


def test_semicolon_bom_and_quoted_multiline_rows_keep_line_numbers():
    data = '\ufeffa;b\n1;"two\nlines"\nx;tiga\n4;5\n'.encode()
    parsed = read_csv(data)
    assert [f.type for f in parsed.fields] == ["int", "text"]
    assert [(e.row_number, e.field) for e in parsed.errors] == [(4, "a")]


def test_given_types_override_inference():
    parsed = read_csv(b"kode,n\n001,1\n002,2\n", {"kode": "text"})
    assert parsed.rows[0]["kode"] == "001" and parsed.fields[1].type == "int"


def test_header_names_are_normalised_and_deduplicated():
    parsed = read_csv(b"Nama,nama,,_id,2020\nx,y,z,w,v\n")
    assert [f.id for f in parsed.fields] == ["nama", "nama_2", "column_3", "id", "c_2020"]


def test_unreadable_files_are_errors():
    with pytest.raises(CsvError):
        read_csv(b"\xff\xfe\x00bad")
    with pytest.raises(CsvError):
        read_csv(b"\n\n")


@pytest.mark.parametrize(
    "kind,raw,value",
    [("int", "42", 42), ("numeric", "3,5", 3.5), ("bool", "Ya", True), ("date", "05/01/2024", "2024-01-05"),
     ("timestamp", "2024-01-05T07:00:00+07:00", "2024-01-05T00:00:00")],
)
def test_parse_value(kind, raw, value):
    assert parse_value(kind, raw) == value


def test_infer_type_text_when_mixed():
    assert infer_type(["a", "1", "b", "2"]) == "text"
    assert infer_type(["", ""]) == "text"
