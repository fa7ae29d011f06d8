"""Event readers, the dead-letter file and content ids: bad input is kept, never fatal."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engage.io import BadRecord, DeadLetter, open_events
from engage.io.readers import MAX_RECORD_BYTES, csv_scalar, decode_json_line, format_of
from engage.io.replay import content_id


def _read(path: Path) -> list[tuple[int, object]]:
    with open_events(str(path)) as source:
        return list(source)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("A.JSONL.GZ", "jsonl"),
        ("a.msgpack", "msgpack"),
        ("a.mpk.gz", "msgpack"),
        ("a.csv", "csv"),
        ("-", "jsonl"),
    ],
)
def test_format_from_extension(name: str, kind: str) -> None:
    assert format_of(name) == kind


def test_unknown_extension_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown events format .*\.jsonl"):
        format_of("events.xml")


def test_jsonl_lines_are_numbered_and_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"b": 2}\r\nnot json\n\xff\xfe\n')
    records = _read(path)
    assert [line for line, _ in records] == [1, 3, 4, 5]
    assert records[0][1] == {"a": 1}
    assert records[1][1] == {"b": 2}
    bad = records[2][1]
    assert isinstance(bad, BadRecord) and bad.reason.startswith("not JSON")
    assert bad.raw == "not json"
    undecodable = records[3][1]
    assert isinstance(undecodable, BadRecord) and "UTF-8" in undecodable.reason


def test_gzip_is_read_transparently(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write('{"contact": "a", "type": "x"}\n')
    assert _read(path) == [(1, {"contact": "a", "type": "x"})]


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_numbers_are_bad_records(text: str) -> None:
    record = decode_json_line(f'{{"data": {{"x": {text}}}}}'.encode())
    assert isinstance(record, BadRecord)
    assert "non-finite" in record.reason


def test_oversized_line_is_a_bad_record() -> None:
    record = decode_json_line(b'"' + b"x" * MAX_RECORD_BYTES + b'"')
    assert isinstance(record, BadRecord)
    assert "limit" in record.reason


def test_deeply_nested_json_is_a_bad_record() -> None:
    record = decode_json_line(b"[" * 100_000 + b"]" * 100_000)
    assert isinstance(record, BadRecord)


def test_msgpack_stream_and_corrupt_tail(tmp_path: Path) -> None:
    path = tmp_path / "e.msgpack"
    good = [{"contact": "a", "type": "x", "at": 1.5}, {"contact": "b", "type": "y"}]
    path.write_bytes(b"".join(msgpack.packb(r) for r in good) + b"\xc1\x00\x01")
    records = _read(path)
    assert records[:2] == [(1, good[0]), (2, good[1])]
    line, bad = records[2]
    assert line == 3
    assert isinstance(bad, BadRecord) and "rest of the file" in bad.reason
    assert len(records) == 3


def test_csv_columns_and_scalars(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "contact,type,at,id,data.nps,data.city,data,data.code\n"
        'ana,contact.updated,2026-01-01,u1,9,Cali,"{""plan"": ""team""}","""007"""\n'
        "\n"
        "ana,email.open,2026-01-02,,,,,\n",
        encoding="utf-8",
    )
    records = _read(path)
    assert records == [
        (
            2,
            {
                "contact": "ana",
                "type": "contact.updated",
                "at": "2026-01-01",
                "id": "u1",
                "data": {"nps": 9, "city": "Cali", "plan": "team", "code": "007"},
            },
        ),
        (4, {"contact": "ana", "type": "email.open", "at": "2026-01-02"}),
    ]


def test_csv_without_required_columns(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("who,what\nana,open\n", encoding="utf-8")
    ((line, bad),) = _read(path)
    assert line == 1
    assert isinstance(bad, BadRecord) and "contact and type" in bad.reason


def test_csv_row_with_too_many_cells(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("contact,type\nana,open,extra\n", encoding="utf-8")
    ((line, bad),) = _read(path)
    assert line == 2 and isinstance(bad, BadRecord)


@pytest.mark.parametrize(
    ("cell", "value"),
    [("12", 12), ("-1.5", -1.5), ("true", True), ('"12"', "12"), ("Cali", "Cali"), ("1-2", "1-2")],
)
def test_csv_scalar(cell: str, value: object) -> None:
    assert csv_scalar(cell) == value


def test_dead_letter_counts_by_reason_and_writes_json(tmp_path: Path) -> None:
    path = tmp_path / "dead.jsonl"
    letters = DeadLetter(str(path))
    letters.write("e.jsonl", 3, "bad 'at': not a time", {"at": "x"})
    letters.write("e.msgpack", 4, "not JSON: whatever", b"\xff raw")
    letters.write("e.jsonl", 5, "bad 'at': other", {"at": float("nan")})
    letters.close()
    assert letters.count == 3
    assert letters.reasons["bad 'at'"] == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {
        "source": "e.jsonl",
        "line": 3,
        "reason": "bad 'at': not a time",
        "record": {"at": "x"},
    }
    assert json.loads(lines[1])["record"] == "\ufffd raw"
    assert len(lines) == 3


def test_content_id_is_stable_and_order_independent() -> None:
    one = {"contact": "a", "type": "x", "data": {"b": 1, "a": 2}}
    two = {"data": {"a": 2, "b": 1}, "type": "x", "contact": "a"}
    assert content_id(one) == content_id(two)
    assert content_id(one) != content_id({**one, "type": "y"})
    assert content_id(one).startswith("sha:")


@given(st.binary(max_size=300))
def test_json_line_decoder_never_raises(line: bytes) -> None:
    record = decode_json_line(line)
    if isinstance(record, BadRecord):
        assert record.reason


@given(st.binary(max_size=300))
def test_msgpack_reader_never_raises(data: bytes) -> None:
    import io

    from engage.io.readers import EventSource

    source = EventSource("x.msgpack", "msgpack", io.BytesIO(data), len(data))
    for line, record in source:
        assert line >= 1
        if isinstance(record, BadRecord):
            assert record.reason
