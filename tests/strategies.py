"""Hypothesis strategies: random rules files that always compile, and event streams.

Rules are assembled from small grammar pieces: two scores (``score``, ``fit``) with
random lines (``where``, caps, ``once``) and clamps, three fields, up to three segments,
and rules with every comparison operator and random constants, field and tag conditions,
arithmetic, ``between`` and ``not between``, every text operator and its negation,
and/or/not, state actions that feed other rules (cascades: tags, fields, scores set or
added to, suspensions, unsubscribes that later sends meet), ``on SCORE change`` and
``on tag added`` rules, and the firing modes. With ``time=True`` the pieces also include
decay, a valuation block, ``within``, ``older than``, ``had`` and ``count`` windows, and
the streams include clock moves.

Streams use a few contacts so that interactions happen, a small set of event types,
ascending times with random gaps, equal timestamps, late events, duplicate ids,
``contact.updated`` with field and score values, hard bounces and deletions.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

T0 = 1767607200  # 2026-01-05T10:00:00Z
HOUR = 3600
DAY = 86400

EVENT_TYPES = ["email.open", "email.click", "web.visit", "form.submit"]
LINE_TYPES = [*EVENT_TYPES, "contact.updated"]
TAGS = ["A", "B", "C"]
GROUPS = ["G", "H"]
CITIES = ["Cali", "Lima", "Bogotá"]
PLANS = ["pro", "enterprise"]
CONTACTS = ["c1", "c2", "c3", "c4"]
COMPARE_OPS = ["==", "!=", ">", ">=", "<", "<="]
ORDER_OPS = [">", ">=", "<", "<="]
DURATIONS = ["30 minutes", "2 hours", "12 hours", "1 day", "2 days", "5 days"]

TEXT_OPS = ["contains", "startswith", "endswith"]
TEXT_OPS += [f"not {op}" for op in TEXT_OPS]
#: ``matches`` patterns (escaped for a rules string): anchors, classes, ``(?i)``.
PATTERNS = ["^Ca", "a$", "(?i)^bog", "[LC]i", "o.á", "^[A-Z][a-z]{3}$"]
FIELDS_BLOCK = "fields {\n    nps: number\n    city: text\n    plan: text\n}\n"


def _text(value: str) -> str:
    return f'"{value}"'


class Pieces:
    """Generation context: what names exist, whether time features are on."""

    def __init__(self, time: bool, segments: list[str]) -> None:
        self.time = time
        self.segments = segments


@st.composite
def score_atom(draw: st.DrawFn, ctx: Pieces) -> str:
    """A condition on a score; the decaying score (time mode) only against constants."""
    name = draw(st.sampled_from(["score", "fit"]))
    if ctx.time and name == "score":
        # Decaying: compare with a constant that no integer score sits on.
        op = draw(st.sampled_from(ORDER_OPS))
        return f"score {op} {draw(st.integers(0, 25))}.5"
    choice = draw(st.integers(0, 5))
    if choice <= 2:
        return f"{name} {draw(st.sampled_from(COMPARE_OPS))} {draw(st.integers(-5, 30))}"
    if choice == 3:
        low = draw(st.integers(-5, 20))
        negated = draw(st.sampled_from(["", "not "]))
        return f"{name} {negated}between {low} and {low + draw(st.integers(0, 10))}"
    if choice == 4:
        return f"{name} is {draw(st.sampled_from(['empty', 'not empty']))}"
    # Arithmetic over non-decaying values.
    other = "fit" if ctx.time else draw(st.sampled_from(["score", "fit", "nps"]))
    form = draw(st.sampled_from(["{a} + {b}", "{a} * 2 - {b}", "({a} + 1) * 2", "{a} / {b}"]))
    expr = form.format(a=other if ctx.time else name, b=draw(st.sampled_from(["fit", "nps"])))
    return f"{expr} {draw(st.sampled_from(COMPARE_OPS))} {draw(st.integers(-5, 40))}"


@st.composite
def field_atom(draw: st.DrawFn, ctx: Pieces) -> str:
    choice = draw(st.integers(0, 8))
    if choice == 0:
        return f"nps {draw(st.sampled_from(COMPARE_OPS))} {draw(st.integers(0, 10))}"
    if choice == 1:
        negated = draw(st.sampled_from(["", "not "]))
        return f"nps {negated}between {draw(st.integers(0, 5))} and {draw(st.integers(5, 10))}"
    if choice == 2:
        op = draw(st.sampled_from(["==", "!="]))
        return f"city {op} {_text(draw(st.sampled_from([*CITIES, ''])))}"
    if choice == 3:
        items = draw(st.lists(st.sampled_from(CITIES), min_size=1, max_size=2, unique=True))
        neg = draw(st.sampled_from(["in", "not in"]))
        return f"city {neg} [{', '.join(_text(i) for i in items)}]"
    if choice == 4:
        field = draw(st.sampled_from(["city", "plan", "nps"]))
        return f"{field} is {draw(st.sampled_from(['empty', 'not empty']))}"
    if choice == 5:
        return f"plan == {_text(draw(st.sampled_from(PLANS)))}"
    if choice >= 7:
        op = draw(st.sampled_from(["matches", "not matches"]))
        return f"city {op} {_text(draw(st.sampled_from(PATTERNS)))}"
    op = draw(st.sampled_from(TEXT_OPS))
    return f"city {op} {_text(draw(st.sampled_from(['a', 'Ca', 'ma', 'tá'])))}"


@st.composite
def time_atom(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 5))
    duration = draw(st.sampled_from(DURATIONS))
    event_type = draw(st.sampled_from(EVENT_TYPES[:2]))
    if choice == 0:
        return f"last_activity within {duration}"
    if choice == 1:
        return f"last_activity older than {duration}"
    if choice == 2:
        return f"had {event_type} within {duration}"
    if choice == 3:
        op = draw(st.sampled_from([*ORDER_OPS, "=="]))
        return f"count {event_type} within {duration} {op} {draw(st.integers(0, 3))}"
    if choice == 4:
        klass = draw(st.sampled_from(["new", "frequent", "dormant", "expired", "inactive"]))
        return f'valuation is "{klass}"'
    return f"created within {duration}"


@st.composite
def atom(draw: st.DrawFn, ctx: Pieces, positive: bool = True) -> str:
    choices = ["score", "score", "field", "tag", "group"]
    if ctx.segments:
        choices.append("segment")
    if ctx.time:
        choices += ["time", "time", "time"]
    choice = draw(st.sampled_from(choices))
    if choice == "score":
        return draw(score_atom(ctx))
    if choice == "field":
        return draw(field_atom(ctx))
    if choice == "tag":
        return f"tagged {_text(draw(st.sampled_from(TAGS)))}"
    if choice == "group":
        return f"in group {_text(draw(st.sampled_from(GROUPS)))}"
    if choice == "segment":
        return f"in segment {draw(st.sampled_from(ctx.segments))}"
    return draw(time_atom())


@st.composite
def condition(draw: st.DrawFn, ctx: Pieces, depth: int = 2, positive: bool = True) -> str:
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(atom(ctx, positive))
    form = draw(st.sampled_from(["and", "or", "not"]))
    if form == "not":
        return f"not ({draw(condition(ctx, depth - 1, not positive))})"
    left = draw(condition(ctx, depth - 1, positive))
    right = draw(condition(ctx, depth - 1, positive))
    return f"({left}) {form} ({right})"


@st.composite
def action(draw: st.DrawFn) -> str:
    choice = draw(st.integers(0, 18))
    if choice in (0, 1):
        return f"tag {_text(draw(st.sampled_from(TAGS)))}"
    if choice == 2:
        return f"untag {_text(draw(st.sampled_from(TAGS)))}"
    if choice == 3:
        return f"set nps = {draw(st.integers(0, 10))}"
    if choice == 4:
        return f"set city = {_text(draw(st.sampled_from(CITIES)))}"
    if choice == 5:
        return f"clear {draw(st.sampled_from(['city', 'nps']))}"
    if choice == 6:
        return f"add {draw(st.integers(1, 9))} to {draw(st.sampled_from(['score', 'fit']))}"
    if choice == 7:
        return f"subtract {draw(st.integers(1, 9))} from fit"
    if choice == 8:
        message = draw(st.sampled_from(["", ' "call now"']))
        return f"notify sales{message}"
    if choice == 9:
        due = draw(st.sampled_from(["", " due in 2 days"]))
        return f'create task "Follow up"{due}'
    if choice == 10:
        verb = draw(st.sampled_from(["add to group", "remove from group"]))
        return f"{verb} {_text(draw(st.sampled_from(GROUPS)))}"
    if choice == 11:
        return f"do hit {draw(st.integers(0, 9))}"
    if choice == 12:
        value = draw(st.sampled_from([str(draw(st.integers(-5, 30))), "nps", "nps + 2"]))
        return f"set fit = {value}"
    if choice == 13:
        return "suspend"
    if choice == 16:
        return draw(st.sampled_from(["reactivate", "clear fit"]))
    if choice == 14:
        scope = draw(st.sampled_from(["", ' from campaign "spring"', ' from category "news"']))
        channel = draw(st.sampled_from(["", " channel email", " channel sms"]))
        return f"unsubscribe{scope}{channel}"
    if choice == 15:
        campaign = draw(st.sampled_from(["", ' for campaign "spring"']))
        offer = draw(st.sampled_from(["", ' offer "o1"']))
        return f'track "{draw(st.sampled_from(["opened", "won"]))}"{campaign}{offer}'
    channel = draw(st.sampled_from(["email", "email", "sms"]))
    campaign = draw(st.sampled_from(["", ' from campaign "spring"', ' from campaign "fall"']))
    return f'send {channel} "welcome"{campaign}'


@st.composite
def where_clause(draw: st.DrawFn, ctx: Pieces) -> str:
    if draw(st.integers(0, 2)) == 0:
        return ""
    if draw(st.booleans()):
        op = draw(st.sampled_from(COMPARE_OPS))
        return f" where event.n {op} {draw(st.integers(0, 5))}"
    return f" where {draw(condition(ctx, 1))}"


@st.composite
def score_block(draw: st.DrawFn, name: str, ctx: Pieces) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        event_type = draw(st.sampled_from(LINE_TYPES))
        sign = draw(st.sampled_from(["+", "+", "-"]))
        points = draw(st.integers(1, 12))
        line = f"    on {event_type} {sign}{points}{draw(where_clause(ctx))}"
        cap = draw(st.integers(0, 4))
        if cap == 1:
            line += f" max {draw(st.integers(1, 20))} per {draw(st.sampled_from(DURATIONS))}"
        elif cap == 2:
            line += f" max {draw(st.integers(1, 20))} total"
        if draw(st.integers(0, 4)) == 0:
            line += " once"
        lines.append(line)
    if ctx.time and name == "score":
        lines.append(f"    decay half-life {draw(st.sampled_from(['6 hours', '1 day', '3 days']))}")
    if draw(st.booleans()):
        low = draw(st.integers(-10, 0))
        lines.append(f"    clamp {low} to {draw(st.integers(5, 40))}")
    header = "score {" if name == "score" else f"score {name} {{"
    return header + "\n" + "\n".join(lines) + "\n}\n"


@st.composite
def change_filter(draw: st.DrawFn, ctx: Pieces) -> str:
    """The ``where`` of an ``on SCORE change`` rule: on the change itself, or the state."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return ""
    if choice == 1:
        return f" where event.delta {draw(st.sampled_from(COMPARE_OPS))} {draw(st.integers(-3, 3))}"
    if choice == 2:
        return f" where event.new >= {draw(st.integers(0, 20))}"
    if choice == 3:
        return " where event.old is empty"
    return draw(where_clause(ctx))


MODES = ["", "", "", " once", " at most once per 2 hours", " at most once per 1 day", "rearm"]


@st.composite
def rule(draw: st.DrawFn, ctx: Pieces, number: int) -> str:
    kinds = ["when"] * 8 + ["on", "on", "change", "tag"] + (["seg"] if ctx.segments else [])
    trigger_kind = draw(st.sampled_from(kinds))
    # `each time` is refused on conditions that time alone changes: core streams only.
    mode = draw(st.sampled_from(MODES if ctx.time else [*MODES, " each time"]))
    if trigger_kind == "when":
        cond = draw(condition(ctx))
        trigger = f"when {cond}"
        if mode == "rearm":
            extra = draw(atom(ctx))
            mode = f" re-arm when not ({cond}) and ({extra})"
    elif trigger_kind == "on":
        trigger = f"on {draw(st.sampled_from(EVENT_TYPES))}{draw(where_clause(ctx))}"
    elif trigger_kind == "change":
        # Decay is not a change, and a decayed value compared with a constant is a
        # matter of rounding: with time, only the plain score ``fit``.
        score = "fit" if ctx.time else draw(st.sampled_from(["score", "fit"]))
        trigger = f"on {score} change{draw(change_filter(ctx))}"
    elif trigger_kind == "tag":
        tag = draw(st.sampled_from(["", *(f" {_text(t)}" for t in TAGS)]))
        trigger = f"on tag added{tag}{draw(where_clause(ctx))}"
    else:
        edge = draw(st.sampled_from(["enter", "exit"]))
        trigger = f"on segment {edge} {draw(st.sampled_from(ctx.segments))}"
    if trigger_kind != "when" and mode in ("rearm", " each time"):
        mode = ""
    actions = ", ".join(draw(st.lists(action(), min_size=1, max_size=3)))
    if draw(st.integers(0, 3)) == 0:
        head = ""  # anonymous: named FILE:LINE
    else:
        priority = draw(st.sampled_from(["", "", " priority 5", " priority -1", " priority 10"]))
        head = f'rule "r{number}"{priority}\n    '
    return f"{head}{trigger}\n    then {actions}{mode}\n"


@st.composite
def rules_text(draw: st.DrawFn, time: bool = False, segments: bool = True) -> str:
    ctx = Pieces(time, [])
    parts = [FIELDS_BLOCK, draw(score_block("score", ctx)), draw(score_block("fit", ctx))]
    if time and draw(st.booleans()):
        parts.append(
            "valuation {\n    new within 1 day\n    frequent within 3 days\n"
            "    dormant within 7 days\n}\n"
        )
    for number in range(draw(st.integers(0, 3 if segments else 0))):
        name = f"s{number}"
        parts.append(f"segment {name} = {draw(condition(ctx))}\n")
        ctx.segments.append(name)
    for number in range(draw(st.integers(1, 6))):
        parts.append(draw(rule(ctx, number)))
    return "\n".join(parts)


# -- events --------------------------------------------------------------------------------


@st.composite
def update_data(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, values in (
        ("nps", st.one_of(st.none(), st.integers(0, 10))),
        ("city", st.one_of(st.none(), st.sampled_from([*CITIES, ""]))),
        ("plan", st.sampled_from(PLANS)),
        ("score", st.integers(-5, 30)),
        ("fit", st.integers(-5, 30)),
        ("tags", st.lists(st.sampled_from(TAGS), max_size=2, unique=True)),
    ):
        if draw(st.integers(0, 2)) == 0:
            data[key] = draw(values)
    return data


GAPS = [0, 1, 60, 30 * 60, HOUR, 5 * HOUR, 12 * HOUR, DAY, 2 * DAY, 4 * DAY]


@st.composite
def operations(draw: st.DrawFn, time: bool = False) -> list[tuple[str, Any]]:
    """``("event", record)`` and (time mode) ``("advance", epoch seconds)`` operations."""
    ops: list[tuple[str, Any]] = []
    clock = T0
    count = draw(st.integers(1, 25))
    for n in range(count):
        if time and draw(st.integers(0, 4)) == 0:
            clock += draw(st.sampled_from(GAPS[2:])) + draw(st.integers(0, 3600))
            ops.append(("advance", clock))
        gap = draw(st.sampled_from(GAPS if time else GAPS[:7]))
        clock += gap
        at = clock
        if draw(st.integers(0, 9)) == 0:
            at = clock - draw(st.sampled_from([1, HOUR, DAY]))  # a late event
        contact = draw(st.sampled_from(CONTACTS[: draw(st.integers(1, 4))]))
        kind = draw(st.integers(0, 19))
        record: dict[str, Any] = {"contact": contact}
        if kind < 5:
            record["type"] = "contact.updated"
            record["data"] = draw(update_data())
        elif kind == 5:
            record["type"] = "email.bounce"
            record["data"] = {"kind": draw(st.sampled_from(["hard", "soft"]))}
        elif kind == 6 and n > 2:
            record["type"] = "contact.deleted"
        else:
            record["type"] = draw(st.sampled_from(EVENT_TYPES))
            if draw(st.booleans()):
                record["data"] = {"n": draw(st.integers(0, 6))}
        record["at"] = at if draw(st.integers(0, 3)) else _iso(at)
        id_kind = draw(st.integers(0, 9))
        if id_kind < 7:
            record["id"] = f"e{n}"
        elif id_kind == 7 and n > 0:
            record["id"] = f"e{draw(st.integers(0, n - 1))}"  # maybe a duplicate
        ops.append(("event", record))
    if time and draw(st.booleans()):
        ops.append(("advance", clock + draw(st.sampled_from(GAPS[3:]))))
    return ops


def _iso(epoch: int) -> str:
    from engage.timeutil import format_time

    return format_time(float(epoch))


# -- the inline path of ingest_many ----------------------------------------------------------


#: The second score of the inline-path rules: actions add to it and take from it.
FIT_BLOCK = "score fit {\n    on form.submit +4\n}\n"


@st.composite
def threshold_atom(draw: st.DrawFn) -> str:
    """A condition on ``score`` and constants only: what the threshold index serves."""
    choice = draw(st.integers(0, 5))
    if choice <= 2:
        op = draw(st.sampled_from(COMPARE_OPS))
        value = draw(st.one_of(st.integers(-10, 40), st.sampled_from([2.5, 7.5, -0.5])))
        return f"score {op} {value}"
    if choice == 3:
        low = draw(st.integers(-5, 30))
        return f"score between {low} and {low + draw(st.integers(0, 10))}"
    if choice == 4:
        return f"score is {draw(st.sampled_from(['empty', 'not empty']))}"
    left, right = draw(threshold_atom()), draw(threshold_atom())
    form = draw(st.sampled_from(["({a}) or ({b})", "({a}) and ({b})", "not ({a})"]))
    return form.format(a=left, b=right)


@st.composite
def inline_rules_text(draw: st.DrawFn) -> str:
    """Rules whose events the inline path of ``ingest_many`` applies: plain score lines on
    unclamped scores, threshold rules on ``score`` (with every mode and action, so some
    are plain and some are not), and sometimes a rule that reads what they change."""
    lines = []
    for event_type in draw(st.lists(st.sampled_from(EVENT_TYPES), min_size=1, unique=True)):
        sign = draw(st.sampled_from(["+", "+", "-"]))
        points = draw(st.sampled_from(["1", "2", "3", "5", "10", "0.5", "2.5"]))
        lines.append(f"    on {event_type} {sign}{points}")
    blocks = ["score {\n" + "\n".join(lines) + "\n}\n", FIT_BLOCK]
    # Declared second, ``score`` is score 1: the contact keeps score 0 in a slot of its
    # own and the others in a list, and both must behave the same.
    if draw(st.booleans()):
        blocks.reverse()
    parts = [FIELDS_BLOCK, *blocks]
    # Often every threshold rule is plain (fires on the edge, fixed outside actions and
    # tags), which the cascade runs on its shortest path.
    plain = draw(st.booleans())
    plain_action = st.sampled_from(
        ['tag "A"', 'tag "B"', 'untag "A"', 'add to group "G"', "notify sales", "do hit 1"]
    )
    for number in range(draw(st.integers(1, 8))):
        mode = draw(st.sampled_from(["", "", "", "", " once", " each time", "rearm"]))
        cond = draw(threshold_atom())
        if plain:
            mode = ""
        elif mode == "rearm":
            mode = f" re-arm when not ({cond})"
        chosen = st.lists(plain_action if plain else action(), min_size=1, max_size=3)
        actions = ", ".join(draw(chosen))
        parts.append(f'rule "t{number}"\n    when {cond}\n    then {actions}{mode}\n')
    if draw(st.integers(0, 2)) == 0:
        # Something reads what threshold rules change: their actions cascade.
        cond = draw(st.sampled_from([*(f"tagged {_text(t)}" for t in TAGS), "nps > 3"]))
        parts.append(f'rule "reader"\n    when {cond}\n    then do seen\n')
    return "\n".join(parts)


@st.composite
def inline_operations(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Events shaped for the inline path: numeric times, an id or not, no data."""
    ops: list[tuple[str, Any]] = []
    clock = T0
    for n in range(draw(st.integers(1, 40))):
        clock += draw(st.sampled_from([0, 1, 60, HOUR]))
        at = clock
        if draw(st.integers(0, 9)) == 0:
            at = clock - HOUR  # a late event
        record: dict[str, Any] = {
            "contact": draw(st.sampled_from(CONTACTS[:2])),
            "type": draw(st.sampled_from([*EVENT_TYPES, "email.sent"])),
            "at": at,
        }
        if draw(st.booleans()):
            record["id"] = f"e{n}"
        ops.append(("event", record))
    return ops
