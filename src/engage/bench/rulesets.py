"""The rules each workload runs, written as rules-language text.

The benchmark goes through :func:`engage.compile` like any host would, so these are
plain ``.rules`` sources, generated from a few numbers. The point values of the score
lines are shared with the hand-written baselines (:data:`POINTS`), so both sides add the
same points.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Final

#: Points per event type of the throughput workload's ``score`` (email.sent: none, so it
#: is activity only: the contact exists and is active, its score does not move).
POINTS: Final[dict[str, float]] = {
    "email.open": 1.0,
    "web.visit": 2.0,
    "email.click": 3.0,
    "form.submit": 10.0,
    "email.bounce": -5.0,
}

#: Spacing of the thresholds of the *spread* layout (see :func:`thresholds`).
SPREAD_STEP: Final = 10.0
#: Score range of the *dense* layout.
DENSE_RANGE: Final = 100.0


def _number(value: float) -> str:
    """A number as the rules language writes it (no trailing ``.0``)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _score_block(name: str, points: dict[str, float], extra: Sequence[str] = ()) -> str:
    header = "score {" if name == "score" else f"score {name} {{"
    lines = [header]
    for event_type, value in points.items():
        sign = "+" if value >= 0 else "-"
        lines.append(f"    on {event_type} {sign}{_number(abs(value))}")
    lines.extend(f"    {line}" for line in extra)
    lines.append("}")
    return "\n".join(lines)


def thresholds(rules: int, layout: str) -> list[float]:
    """The k values of ``rules`` threshold rules ``when score >= k``, ascending.

    ``spread``: ``k = 10, 20, 30, ... 10R`` — a tier every 10 points, as lead-scoring
    tiers are usually laid out, over a range proportional to R. The thresholds of a
    smaller R are a prefix of a larger R's, so an event crosses about the same number of
    them whatever R is (only the few contacts that climb past 10R add crossings): the
    cost per event can be compared across R — the same output, more rules to skip.

    ``dense``: R thresholds evenly over the fixed range ``(0, 100]`` (the spread range of
    R = 10) — more rules means proportionally more crossings per event, so the cost grows
    with the output; always read it beside the firings per event.
    """
    if rules <= 0:
        raise ValueError("rules must be positive")
    if layout == "spread":
        return [SPREAD_STEP * (i + 1) for i in range(rules)]
    if layout == "dense":
        return [DENSE_RANGE * (i + 1) / rules for i in range(rules)]
    raise ValueError(f"unknown threshold layout {layout!r} (spread or dense)")


def tier_tag(index: int) -> str:
    """The tag that threshold rule number ``index`` sets."""
    return f"tier_{index + 1}"


def threshold_rules(points: Sequence[float]) -> str:
    """The throughput workload: one score and ``when score >= k then tag "tier_i"``."""
    parts = [_score_block("score", POINTS), ""]
    for index, k in enumerate(points):
        parts.append(f'when score >= {_number(k)} then tag "{tier_tag(index)}"')
    return "\n".join(parts) + "\n"


#: The memory workload: one score, two fields (tags need no declaration).
MEMORY_RULES: Final = (
    "fields {\n    city: text\n    plan: text\n}\n\n"
    + _score_block("score", {"email.open": 1.0})
    + "\n"
)

#: The durability workload: ``examples/engagement.rules`` cut down to what the memory
#: state carries (one score, two fields; tags come from ``contact.updated``) plus what a
#: snapshot must also keep: a decaying, clamped score (pending wake-ups), recency
#: classes, a segment and a ``when`` rule (their marks). Its only outside action
#: (``notify``) goes to the outbox, which the workload drains before it snapshots.
DURABILITY_RULES: Final = (
    "fields {\n    city: text\n    plan: text\n}\n\n"
    + _score_block("score", POINTS, ["decay half-life 30 days", "clamp 0 to 100"])
    + "\n\nvaluation {\n    new within 15 days\n    frequent within 45 days\n"
    "    dormant within 120 days\n}\n\n"
    'segment sales_ready = score >= 50 and plan == "enterprise"\n\n'
    'rule "Hot lead"\n    when score >= 80\n    then notify sales\n'
)

#: Points of the two decaying scores of the time workload.
ENGAGEMENT_POINTS: Final[dict[str, float]] = {
    "email.open": 1.0,
    "web.visit": 2.0,
    "email.click": 3.0,
    "form.submit": 10.0,
    "email.bounce": -5.0,
}
HEAT_POINTS: Final[dict[str, float]] = {"email.click": 5.0, "web.visit": 3.0, "form.submit": 10.0}
ENGAGEMENT_HALF_LIFE_DAYS: Final = 30
HEAT_HALF_LIFE_DAYS: Final = 7
#: The default recency classes (days).
VALUATION_DAYS: Final[tuple[tuple[str, int], ...]] = (
    ("new", 15),
    ("frequent", 45),
    ("dormant", 120),
)

#: The time workload's threshold rules: (tag, score, operator, k). ``>=`` rules fire on
#: events and re-arm as the score decays; ``<`` rules fire as the score decays.
TIME_THRESHOLDS: Final[tuple[tuple[str, str, str, float], ...]] = (
    ("engaged", "engagement", ">=", 20.0),
    ("lapsing", "engagement", "<", 2.0),
    ("hot", "heat", ">=", 10.0),
    ("cooled", "heat", "<", 1.0),
)
#: The recency classes that tag, in this order (``new`` fires on events only).
TIME_CLASSES: Final = ("new", "frequent", "dormant", "expired")


def time_rules() -> str:
    """The time workload: valuation classes, two decaying scores, threshold rules."""
    parts = [
        _score_block(
            "engagement",
            ENGAGEMENT_POINTS,
            [f"decay half-life {ENGAGEMENT_HALF_LIFE_DAYS} days"],
        ),
        _score_block("heat", HEAT_POINTS, [f"decay half-life {HEAT_HALF_LIFE_DAYS} days"]),
        "valuation {",
        *(f"    {name} within {days} days" for name, days in VALUATION_DAYS),
        "}",
        "",
    ]
    for name in TIME_CLASSES:
        parts.append(f'when valuation is "{name}" then tag "{name}"')
    for tag, score, op, k in TIME_THRESHOLDS:
        parts.append(f'when {score} {op} {_number(k)} then tag "{tag}"')
    return "\n".join(parts) + "\n"


def big_rules_file(rules: int, *, seed: int = 3) -> str:
    """A realistic rules file with ``rules`` rules, for timing parse + check + compile.

    It mixes what real files hold: named rules with priorities, anonymous one-liners,
    ``on`` rules with ``where``, comparisons, ``between``, ``in [...]``, text operators,
    tags and groups, arithmetic, and several actions per rule.
    """
    rng = random.Random(seed)
    out = [
        "# generated by engage bench: a large rules file for check timing",
        "fields {",
        "    city: text",
        "    plan: text",
        "    country: text",
        "    nps: number",
        "    seats: number",
        "    industry: text",
        "}",
        "",
        _score_block("score", POINTS, ["clamp 0 to 1000"]),
        _score_block("fit", {"form.submit": 20.0, "email.click": 2.0}),
        "",
    ]
    cities = ("Bogotá", "Cali", "Lima", "Quito", "Madrid", "Santiago")
    plans = ("free", "starter", "pro", "enterprise")
    teams = ("sales", "success", "marketing", "support")
    for index in range(rules):
        kind = index % 8
        k = rng.randint(1, 500)
        city = rng.choice(cities)
        plan = rng.choice(plans)
        team = rng.choice(teams)
        if kind == 0:
            out.append(
                f'rule "Hot lead {index}" priority {rng.randint(1, 20)}\n'
                f"    when score >= {k} and fit >= {rng.randint(1, 60)}\n"
                f'    then notify {team}, create task "Follow up {index}" due in 2 days, '
                f'tag "hot_{index}"'
            )
        elif kind == 1:
            out.append(f'when score >= {k} then tag "tier_{index}"')
        elif kind == 2:
            out.append(
                f'when city == "{city}" and plan in ["{plan}", "enterprise"] '
                f'then add to group "{city}-{plan}"'
            )
        elif kind == 3:
            out.append(
                f'on web.visit where event.url contains "/pricing/{index}" '
                f'then tag "pricing_{index}", notify {team}'
            )
        elif kind == 4:
            out.append(
                f'rule "NPS {index}"\n'
                f"    when nps between {rng.randint(0, 5)} and {rng.randint(6, 10)} "
                f'and not tagged "surveyed_{index}"\n'
                f'    then tag "surveyed_{index}", send email "nps-{index}"'
            )
        elif kind == 5:
            out.append(
                f'when seats * 10 + fit > {k} and industry is not empty then set plan = "{plan}"'
            )
        elif kind == 6:
            out.append(
                f'when tagged "tier_{index - 5}" and country startswith "C" '
                f"then add {rng.randint(1, 5)} to fit"
            )
        else:
            out.append(
                f'rule "Score {index}" priority {rng.randint(1, 5)}\n'
                f"    when score between {k} and {k + rng.randint(10, 100)}\n"
                f'    then do crm.sync, tag "band_{index}"'
            )
    return "\n".join(out) + "\n"


#: The realistic workload: what a B2B marketing team writes (``examples/engagement.rules``
#: grown to a full programme). A decaying, clamped engagement score with capped lines and
#: filters on event data; an intent score that does not decay; the recency classes; a
#: segment read by ``on segment enter``/``exit`` rules; a ``count`` window rule; a
#: cooldown (``at most once per``), a hysteresis (``re-arm when``) and sends.
#:
#: :mod:`engage.bench.realistic` transcribes these rules into a plain-Python loop by
#: hand, as a programmer without a rules engine would; the workload checks that both
#: fire the same actions, so a change here must be made there too. The thresholds avoid
#: values a score can hold exactly (a single event's points, 0 and 100), where the
#: engine's and the loop's decay arithmetic could round to different sides.
REALISTIC_RULES: Final = """\
# realistic.rules: the scoring and triggers of a B2B marketing team.

score engagement {
    on email.open      +1    max 5 per 1 day
    on email.click     +3    max 9 per 1 day
    on web.visit       +2    where event.url contains "/pricing"   max 10 per 7 days
    on web.visit       +1    where event.url contains "/blog"      max 3 per 1 day
    on form.submit     +15   where event.form == "demo"
    on form.submit     +5    where event.form == "newsletter"
    on email.bounce    -10   where event.kind == "hard"
    decay half-life 30 days
    clamp 0 to 100
}

score intent {
    on web.visit       +5    where event.url contains "/pricing"
    on web.visit       +2    where event.url contains "/docs"      max 10 per 7 days
    on email.click     +1    where event.link == "product"
    on form.submit     +20   where event.form == "demo"   once
}

valuation {
    new       within 15 days
    frequent  within 45 days
    dormant   within 120 days
}

segment hot_leads = engagement >= 25 and intent >= 15

rule "Demo request" priority 10
    on form.submit where event.form == "demo"
    then notify sales "Demo requested", create task "Call back" due in 1 day

rule "Hot lead"
    on segment enter hot_leads
    then tag "hot", notify sales "Hot lead"

rule "Cooled down"
    on segment exit hot_leads
    then untag "hot"

rule "Returning visitor"
    when count web.visit within 30 days >= 3
    then tag "returning"

rule "Pricing interest"
    on web.visit where event.url contains "/pricing"
    then notify sales "Pricing page visit"
    at most once per 1 day

rule "Engaged offer"
    when engagement >= 40
    then send email "engaged-offer"
    re-arm when engagement < 12

rule "We miss you"
    when valuation is "dormant"
    then send email "we-miss-you"

rule "Undeliverable"
    on email.bounce where event.kind == "hard"
    then track "Undeliverable", tag "undeliverable"
"""
