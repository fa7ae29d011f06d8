"""The ``engage`` command: exit codes, output formats, dead letters, state folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from engage.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RULES = ROOT / "examples" / "engagement.rules"
EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"
BAD_EVENTS = ROOT / "examples" / "bad_events.jsonl"

HOT_LEAD = """\
score {
    on email.open     +1
    on stage.reached  +3
}
rule "Hot lead"
    when score >= 5
    then notify sales, create task "Follow up", tag "Caliente"
"""


def _events(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _seed_events() -> list[dict[str, object]]:
    opens: list[dict[str, object]] = [
        {"id": f"o{n}", "contact": "jhon", "type": "email.open", "at": f"2026-01-0{n}T10:00:00Z"}
        for n in range(1, 5)
    ]
    stage: dict[str, object] = {
        "id": "e-17",
        "contact": "jhon",
        "type": "stage.reached",
        "at": "2026-01-05T10:00:00Z",
        "data": {"stage": "demo"},
    }
    return [*opens, stage]


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLE_RULES)]) == 0
    assert capsys.readouterr().out.startswith("ok: 1 file, 5 rules, 2 scores, 1 segment")


def test_check_reports_every_error_with_line_and_caret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "broken.rules"
    rules.write_text(
        'score {\n    on email.open +1\n}\nwhen scor >= 5 then tag "x"\nwhen score >= 5 tag "y"\n',
        encoding="utf-8",
    )
    assert main(["check", str(rules)]) == 1
    err = capsys.readouterr().err
    assert "broken.rules:5:" in err
    assert ": error: " in err
    assert "^" in err
    assert "then" in err


def test_check_unknown_name_suggests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "typo.rules"
    rules.write_text('score {\n    on email.open +1\n}\nwhen scroe >= 5 then tag "x"\n')
    assert main(["check", str(rules)]) == 1
    err = capsys.readouterr().err
    assert "typo.rules:4:6: error:" in err
    assert "score" in err
    assert "    when scroe >= 5" in err


def test_check_missing_file_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "no-such-file.rules"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_run_seed_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "hot.rules"
    rules.write_text(HOT_LEAD, encoding="utf-8")
    events = _events(tmp_path / "events.jsonl", _seed_events())
    assert main(["run", str(rules), "--events", str(events), "--quiet"]) == 0
    actions = _lines(capsys.readouterr().out)
    assert actions == [
        {
            "at": "2026-01-05T10:00:00Z",
            "contact": "jhon",
            "rule": "Hot lead",
            "action": verb,
            "args": args,
            "event": "e-17",
        }
        for verb, args in (
            ("notify", ["sales"]),
            ("create_task", ["Follow up"]),
            ("tag", ["Caliente"]),
        )
    ]


def test_run_explain_adds_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "hot.rules"
    rules.write_text(HOT_LEAD, encoding="utf-8")
    events = _events(tmp_path / "events.jsonl", _seed_events())
    assert main(["run", str(rules), "--events", str(events), "--quiet", "--explain"]) == 0
    first = _lines(capsys.readouterr().out)[0]
    why = first["why"]
    assert isinstance(why, dict)
    assert why["rule"] == "Hot lead"
    assert "4 -> 7" in json.dumps(why)


def test_run_rule_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "bad.rules"
    rules.write_text("when then\n", encoding="utf-8")
    events = _events(tmp_path / "events.jsonl", _seed_events())
    assert main(["run", str(rules), "--events", str(events)]) == 1
    assert "bad.rules:1:" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["run", str(EXAMPLE_RULES), "--events", "missing.jsonl"],
        ["run", str(EXAMPLE_RULES), "--events", str(EXAMPLE_RULES)],
        ["run", str(EXAMPLE_RULES), "--events", str(EXAMPLE_EVENTS), "--until", "someday"],
    ],
)
def test_run_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "error:" in capsys.readouterr().err


def test_run_without_events_option_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(EXAMPLE_RULES)])
    assert exit_info.value.code == 2


def test_bad_records_are_counted_kept_and_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = tmp_path / "dead.jsonl"
    code = main(
        ["run", str(EXAMPLE_RULES), "--events", str(BAD_EVENTS), "--dead-letter", str(dead)]
    )
    assert code == 0
    captured = capsys.readouterr()
    letters = _lines(dead.read_text(encoding="utf-8"))
    assert [entry["line"] for entry in letters] == [2, 3, 4, 5, 6, 9]
    assert all(entry["source"] == "bad_events.jsonl" for entry in letters)
    reasons = [str(entry["reason"]) for entry in letters]
    assert reasons[0].startswith("not JSON")
    assert "contact" in reasons[1]
    assert "'at'" in reasons[2]
    assert "nps" in reasons[3]
    assert "non-finite" in reasons[4]
    assert "accepted 3, duplicates 1, bad 6" in captured.err
    assert _lines(captured.out)[0]["event"] == "b-6"


def test_bad_records_listed_on_stderr_without_dead_letter_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", str(EXAMPLE_RULES), "--events", str(BAD_EVENTS), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "bad_events.jsonl:2: bad record: not JSON" in err
    assert "bad_events.jsonl:9: bad record:" in err


def test_dump_is_deterministic_and_sorted(tmp_path: Path) -> None:
    dumps = []
    for name in ("one", "two"):
        dump = tmp_path / f"{name}.jsonl"
        argv = ["run", str(EXAMPLE_RULES), "--events", str(EXAMPLE_EVENTS), "--quiet"]
        argv += ["--no-actions", "--until", "2026-06-30", "--dump", str(dump)]
        assert main(argv) == 0
        dumps.append(dump.read_bytes())
    assert dumps[0] == dumps[1]
    records = _lines(dumps[0].decode())
    contacts = [str(r["contact"]) for r in records]
    assert contacts == sorted(contacts)
    jhon = next(r for r in records if r["contact"] == "jhon")
    assert list(jhon) == sorted(jhon)
    assert jhon["tags"] == ["Caliente"]
    assert jhon["valuation"] == "expired"
    for key in ("scores", "fields", "groups", "segments", "status", "last_activity"):
        assert key in jhon


def test_until_fires_timers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "quiet.rules"
    rules.write_text('when valuation is "dormant" then send email "we-miss-you"\n')
    events = _events(
        tmp_path / "e.jsonl",
        [{"contact": "ana", "type": "email.open", "at": "2026-01-01T00:00:00Z"}],
    )
    assert main(["run", str(rules), "--events", str(events), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    argv = ["run", str(rules), "--events", str(events), "--quiet", "--until", "2026-12-31"]
    assert main(argv) == 0
    (action,) = _lines(capsys.readouterr().out)
    assert action["action"] == "send_email"
    assert action["at"] == "2026-02-15T00:00:00Z"  # 45 days after the last activity
    assert "event" not in action


def test_msgpack_and_csv_events_match_jsonl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "hot.rules"
    rules.write_text(HOT_LEAD, encoding="utf-8")
    records = _seed_events()
    jsonl = _events(tmp_path / "e.jsonl", records)
    packed = tmp_path / "e.msgpack"
    packed.write_bytes(b"".join(msgpack.packb(r) for r in records))
    table = tmp_path / "e.csv"
    rows = ["id,contact,type,at,data.stage"]
    for r in records:
        stage = r.get("data", {}).get("stage", "")  # type: ignore[attr-defined]
        rows.append(f"{r['id']},{r['contact']},{r['type']},{r['at']},{stage}")
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    outputs = []
    for path in (jsonl, packed, table):
        assert main(["run", str(rules), "--events", str(path), "--quiet"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(_lines(outputs[0])) == 3


def test_state_folder_resumes_and_second_run_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    argv = ["run", str(EXAMPLE_RULES), "--events", str(EXAMPLE_EVENTS), "--state", str(state)]
    assert main([*argv, "--dump", str(tmp_path / "first.jsonl")]) == 0
    first = capsys.readouterr()
    assert _lines(first.out)
    assert main([*argv, "--dump", str(tmp_path / "second.jsonl")]) == 0
    second = capsys.readouterr()
    assert second.out == ""
    assert "accepted 0, duplicates 2,618" in second.err
    assert "state: restored snapshot-" in second.err
    first_dump = (tmp_path / "first.jsonl").read_bytes()
    assert first_dump == (tmp_path / "second.jsonl").read_bytes()
    plain = tmp_path / "plain.jsonl"
    plain_argv = ["run", str(EXAMPLE_RULES), "--events", str(EXAMPLE_EVENTS), "--quiet"]
    assert main([*plain_argv, "--dump", str(plain)]) == 0
    assert plain.read_bytes() == first_dump


def test_state_folder_without_ids_uses_content_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "hot.rules"
    rules.write_text(HOT_LEAD, encoding="utf-8")
    records = [{k: v for k, v in r.items() if k != "id"} for r in _seed_events()]
    events = _events(tmp_path / "e.jsonl", records)
    argv = ["run", str(rules), "--events", str(events), "--state", str(tmp_path / "s"), "-q"]
    assert main(argv) == 0
    assert len(_lines(capsys.readouterr().out)) == 3
    assert main(argv) == 0
    assert capsys.readouterr().out == ""


def test_entry_point_runs_the_bundled_example(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "engage", "run", str(EXAMPLE_RULES)),
            *("--events", str(EXAMPLE_EVENTS), "--until", "2026-06-30", "--dump", str(dump)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "engage run: 2,618 records" in result.stderr
    assert "\r" not in result.stderr  # no progress bar when stderr is not a terminal
    actions = _lines(result.stdout)
    assert any(a["rule"] == "Sales ready" for a in actions)
    assert dump.read_text(encoding="utf-8").count("\n") == 204


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("engage ")
