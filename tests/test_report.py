"""``engage report``: the numbers against an independent count, and its three forms."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from engage.actions import Action
from engage.cli import main
from engage.firings import FiringTracker

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "examples" / "engagement.rules")
EVENTS = str(ROOT / "examples" / "events.jsonl")
UNTIL = "2026-06-30"
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``engage run`` of the bundled example: its actions and its dump."""
    folder = tmp_path_factory.mktemp("run")
    actions_path, dump_path = folder / "actions.jsonl", folder / "dump.jsonl"
    code = main(
        [
            "run", RULES, "--events", EVENTS, "--until", UNTIL, "-q",
            "--output", str(actions_path), "--dump", str(dump_path),
        ]
    )  # fmt: skip
    assert code == 0
    actions = [json.loads(line) for line in actions_path.read_text().splitlines()]
    dump = [json.loads(line) for line in dump_path.read_text().splitlines()]
    return {"actions": actions, "dump": dump}


@pytest.fixture(scope="module")
def report_json() -> dict[str, Any]:
    stream = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(stream):
        code = main(["report", RULES, "--events", EVENTS, "--until", UNTIL, "--json"])
    assert code == 0
    result: dict[str, Any] = json.loads(stream.getvalue())
    return result


def _firings(actions: list[dict[str, Any]]) -> Counter[str]:
    """Firings per rule, from the action stream: consecutive actions of one contact,
    rule, time and event are one firing."""
    counts: Counter[str] = Counter()
    previous = None
    for action in actions:
        key = (action["contact"], action["rule"], action["at"], action.get("event"))
        if key != previous:
            counts[action["rule"]] += 1
        previous = key
    return counts


def test_json_numbers_equal_an_independent_count_of_run(
    report_json: dict[str, Any], replayed: dict[str, Any]
) -> None:
    actions, dump = replayed["actions"], replayed["dump"]
    report = report_json
    assert report["report"]["format"] == 1
    assert report["report"]["clock"] == "2026-06-30T00:00:00Z"

    totals = report["totals"]
    assert totals["records"] == 2618 and totals["events"] == 2618
    assert totals["actions"] == len(actions)
    assert totals["contacts"] == len(dump)
    assert totals["rejected"] == {"total": 0, "by_reason": {}}

    firings = {row["rule"]: row["firings"] for row in report["rules"]}
    assert firings == {rule: _firings(actions)[rule] for rule in firings}
    assert sum(firings.values()) == sum(_firings(actions).values())
    for row in report["rules"]:
        assert sum(row["over_time"]) == row["firings"]

    statuses = {"active": 0, "suspended": 0} | Counter(c["status"] for c in dump)
    assert report["contacts"]["by_status"] == statuses

    segments = Counter(name for c in dump for name in c["segments"])
    for row in report["segments"]:
        assert row["now"] == segments[row["segment"]]
        assert row["over_time"][-1] == row["now"]

    classes = Counter(c["valuation"] for c in dump)
    assert report["classes"]["now"] == {name: classes[name] for name in report["classes"]["now"]}
    assert sum(report["classes"]["now"].values()) == len(dump)
    for name, values in report["classes"]["over_time"].items():
        assert values[-1] == report["classes"]["now"][name]

    for row in report["scores"]:
        values = sorted(c["scores"][row["score"]] for c in dump if row["score"] in c["scores"])
        assert row["contacts"] == len(values)
        assert row["empty"] == len(dump) - len(values)
        assert row["min"] == pytest.approx(values[0]) and row["max"] == pytest.approx(values[-1])
        assert sum(row["histogram"]["counts"]) == len(values)

    sends: dict[str, Counter[str]] = {}
    for action in actions:
        if action["action"].startswith("send_"):
            outcome = action.get("suppressed", "sent")
            sends.setdefault(action["action"][5:], Counter())[outcome] += 1
    assert {
        row["channel"]: Counter({"sent": row["sent"], **row["suppressed"]})
        for row in report["sends"]
    } == sends


def test_over_time_is_bucketed_by_week_for_half_a_year(report_json: dict[str, Any]) -> None:
    meta = report_json["report"]
    assert meta["unit"] == "week"
    assert meta["buckets"][0]["start"] == "2026-01-05"  # a Monday
    assert meta["buckets"][-1]["end"] == meta["clock"]
    lengths = {len(row["over_time"]) for row in report_json["rules"]}
    assert lengths == {len(meta["buckets"])}


def test_text_form_shows_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "report", RULES, "--events", EVENTS, "--until", UNTIL)
    assert code == 0
    assert "Rule firings" in out and "Hot lead" in out
    assert "Segments now" in out and "Recency classes now" in out
    assert "Sends by channel" in out and "unsubscribed from email" in out
    assert "\x1b[" not in out  # plain text in a pipe


def test_rich_tables_when_forced() -> None:
    pytest.importorskip("rich", reason="rich (engage[cli]) is not installed")
    from engage.report.text import write

    numbers = {
        "report": {"format": 1, "source": "state", "clock": None, "unit": None, "buckets": []},
        **_empty_sections(),
    }
    stream = io.StringIO()
    write(numbers, stream, force_rich=True)
    assert "Contacts by status" in stream.getvalue()


def _empty_sections() -> dict[str, Any]:
    return {
        "totals": {
            "records": None, "events": 0, "duplicates": 0, "late": 0, "actions": 0,
            "contacts": 0, "rejected": {"total": 0, "by_reason": None},
        },
        "contacts": {"by_status": {"active": 0, "suspended": 0}},
        "history": {
            "rows": {}, "rows_total": 0, "contacts_with_rows": 0, "channels": {},
            "deleted_while_active": 0,
        },
        "rules": [], "segments": [], "classes": {"now": {}, "over_time": None},
        "scores": [], "flows": [], "sends": None,
    }  # fmt: skip


def test_state_folder_is_read_and_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert (
        main(["run", RULES, "--events", EVENTS, "--state", str(state), "-q", "--no-actions"]) == 0
    )
    before = {p.name: p.read_bytes() for p in state.iterdir()}
    code, out, _ = _run(capsys, "report", RULES, "--state", str(state), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["report"]["source"] == "state"
    assert report["totals"]["events"] == 2618 and report["totals"]["contacts"] == 204
    assert report["rules"][0]["firings"] is None and report["sends"] is None
    assert {p.name: p.read_bytes() for p in state.iterdir()} == before


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "report", RULES, "--events", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "cannot read" in err
    code, _, err = _run(capsys, "report", RULES, "--events", EVENTS, "--until", "someday")
    assert code == 2 and "--until" in err
    code, _, err = _run(capsys, "report", RULES, "--state", str(tmp_path / "nowhere"))
    assert code == 2 and "state folder" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["report", RULES])  # neither --events nor --state
    assert exit_info.value.code == 2


def test_rule_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text("rule oops when then\n")
    code, _, _ = _run(capsys, "report", str(bad), "--events", EVENTS)
    assert code == 1


def test_html_without_matplotlib_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from engage.report import plots

    real = importlib.util.find_spec
    monkeypatch.setattr(
        plots.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    page = tmp_path / "report.html"
    code, _, err = _run(capsys, "report", RULES, "--events", EVENTS, "--html", str(page))
    assert code == 2
    assert "engage[plots]" in err
    assert not page.exists()


class _Page(HTMLParser):
    """The page's charts, table cells and embedded JSON."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[str] = []
        self.svgs = 0
        self.images = 0
        self.external: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._in: str | None = None
        self._row: list[str] | None = None
        self._text = ""
        self.data = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "figure":
            self.charts.append(found.get("data-chart") or "")
        elif tag == "svg":
            self.svgs += 1
        elif tag == "img":
            self.images += 1
        if tag in ("link", "img", "script") and (found.get("href") or found.get("src")):
            source = found.get("href") or found.get("src") or ""
            if not source.startswith("data:"):
                self.external.append(source)
        if tag == "script" and found.get("id") == "engage-report":
            self._in = "data"
        elif tag in ("caption", "td", "th"):
            self._in, self._text = tag, ""
        elif tag == "tr":
            self._row = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in == "data":
            self._in = None
        elif tag == "caption":
            self._caption = self._text
            self.tables[self._caption] = []
            self._in = None
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(self._text)
            self._in = None
        elif tag == "tr" and self._row is not None and self._caption is not None:
            self.tables[self._caption].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._in == "data":
            self.data += data
        elif self._in is not None:
            self._text += data


@pytest.mark.skipif(
    not HAS_MATPLOTLIB, reason="matplotlib is not installed (pip install 'engage[plots]')"
)
def test_html_page_has_a_plot_per_chart_and_the_json_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], report_json: dict[str, Any]
) -> None:
    from engage.report.sections import charts_of

    page_path = tmp_path / "report.html"
    code, _, err = _run(
        capsys, "report", RULES, "--events", EVENTS, "--until", UNTIL, "--html", str(page_path)
    )
    assert code == 0, err
    page = _Page()
    page.feed(page_path.read_text(encoding="utf-8"))
    expected = [chart.title for _, charts in charts_of(report_json) for chart in charts]
    assert page.charts == expected
    assert page.svgs + page.images == len(expected)
    assert not page.external  # self-contained
    assert json.loads(page.data) == report_json

    firings = {row[0]: row[1] for row in page.tables["Rule firings"][1:]}
    assert firings == {row["rule"]: json.dumps(row["firings"]) for row in report_json["rules"]}
    classes = {row[0]: row[1] for row in page.tables["Recency classes now"][1:]}
    assert classes == {k: json.dumps(v) for k, v in report_json["classes"]["now"].items()}
    scores = {row[0]: row[1:] for row in page.tables["Scores now"][1:]}
    for row in report_json["scores"]:
        cells = [row[key] for key in ("contacts", "empty", "min", "median", "max")]
        assert scores[row["score"]] == [json.dumps(value) for value in cells]
    sends = page.tables["Sends by channel"][1:]
    assert ["email", "sent", json.dumps(report_json["sends"][0]["sent"])] in sends


def test_firing_tracker_counts_a_firing_once_for_its_actions() -> None:
    tracker = FiringTracker()
    first = Action(1.0, "ana", "Hot", "notify", [], "e1")
    second = Action(1.0, "ana", "Hot", "tag", [], "e1")
    later = Action(2.0, "ana", "Hot", "notify", [], "e2")
    assert [tracker.starts(a) for a in (first, second, later)] == [True, False, True]


def test_text_and_json_work_without_matplotlib_or_rich() -> None:
    """Blocked imports stand for a machine with only ``pip install .``; the report's
    text and JSON forms work, and neither library is loaded."""
    script = f"""
import io, json, sys, contextlib
sys.modules["matplotlib"] = None
sys.modules["rich"] = None
from engage.cli import main
for extra in ([], ["--json"]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", {RULES!r}, "--events", {EVENTS!r}, *extra]) == 0
    assert "Hot lead" in out.getvalue()
json.loads(out.getvalue())
assert sys.modules["matplotlib"] is None and sys.modules["rich"] is None
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_embedding_the_engine_loads_neither_rich_nor_matplotlib() -> None:
    script = f"""
import sys, engage
engine = engage.Engine(engage.load({RULES!r}), max_future=None)
engine.ingest({{"contact": "ana", "type": "email.open", "at": "2026-01-01T00:00:00Z"}})
assert "rich" not in sys.modules and "matplotlib" not in sys.modules, sorted(sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_a_torn_log_tail_is_read_around_not_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert (
        main(["run", RULES, "--events", EVENTS, "--state", str(state), "-q", "-o", os.devnull]) == 0
    )
    from engage.rules import load
    from engage.storage.statedir import StateDir

    folder = StateDir(state, load(RULES))
    folder.open().ingest({"contact": "zed", "type": "email.open", "at": "2026-07-01T00:00:00Z"})
    folder.close(checkpoint=False)  # the new event is in the log only
    log = max(state.glob("log-*.englog"))
    log.write_bytes(log.read_bytes() + b"\x07\x00\x00\x00torn")
    before = {p.name: p.read_bytes() for p in state.iterdir()}
    code, out, err = _run(capsys, "report", RULES, "--state", str(state), "--json")
    assert code == 0
    assert "stopped reading the log" in err
    assert json.loads(out)["totals"]["contacts"] == 205
    assert {p.name: p.read_bytes() for p in state.iterdir()} == before
