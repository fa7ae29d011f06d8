"""Rules texts that cover the language: the example files, the ``rules`` blocks of the
docs, and snippets for every construct of docs/language.md (each one parses)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_FENCED_RULES = re.compile(r"^```rules\n(.*?)^```", re.MULTILINE | re.DOTALL)

#: Every construct of the language, a few per text.
SNIPPETS = [
    "fields { city: text, plan: text, nps: number, seen: time, vip: bool, langs: list }",
    "fields {\n}\n",
    "score { on email.open +1  on email.click 3 max 15 per 1 day  on up -2 max 4 total }",
    'score fit {\n    on contact.updated +20 where plan == "enterprise" once\n'
    "    decay half-life 12 hours\n    clamp -10 to 100\n}",
    "valuation { new within 1 day frequent within 2 weeks dormant within 6 months }",
    'segment s = score >= 5 or fit < 2.5 and not tagged "x"',
    'segment t = city in ["Cali", "Lima",] and city not in []',
    "segment u = city is empty or city is not empty or nps is 3 or nps is not 4",
    "segment v = nps between 1 and 5 and nps not between -2 and -1",
    'segment w = city contains "a" and city startswith "B" and city endswith "c"'
    ' and email matches "@x\\\\.com$" and city not contains "q" and city not matches "(?i)z"',
    'segment x = in group "G" and in segment s and valuation is "dormant"',
    "segment y = last_activity within 15 days and created older than 1 year",
    "segment z = had email.open within 4 days and count email.click within 7 days >= 3",
    'segment h = had web.visit where event.url contains "/pricing" within 7 days',
    "segment k = had email.open where (event.sent within 1 day) within 7 days",
    "segment a = score + fit * 2 - -3 / (nps - 1) > 0 and consent.email and not vip",
    "segment b = last_activity - created < 1 day and seen > 2026-01-01T09:00:00Z"
    " and seen < 2026-01-01 and vip == true or vip == false",
    'rule "Hot lead" priority 10\n    when score >= 5\n'
    '    then notify sales, create task "Follow up" due in 2 days, tag "Caliente"',
    'rule hot_lead priority -1 when score > 1 then untag "x" once',
    'rule "e" when score >= 50 then notify team_b each time',
    'rule "r" when score >= 50 then notify team_c re-arm when score < 30',
    'rule "c" when score >= 50 then notify team_d at most once per 1 day',
    'on email.bounce where event.kind == "hard" then track "Undeliverable", suspend',
    'on score change where score >= 5 then do crm.sync event.old event.new (score + 1) 3 "x"',
    'on segment enter engaged then tag "Engaged"',
    'on segment exit engaged where score > 1 then untag "Engaged"',
    'on tag added "VIP" then notify key_accounts',
    "on tag added then reactivate",
    'on form.submit then notify "Key accounts" "New form",'
    ' create task "Call back" for sales due in 1 day, send email "thanks" from campaign'
    ' "Onboarding", call webhook "https://crm.example/hook", set last_seen = now,'
    " add 5 to score, subtract 2 from fit, do crm.sync",
    'on x then add to group "G", remove from group "G", set city = "Cali", clear city',
    'on x then unsubscribe, unsubscribe from campaign "C" channel email,'
    ' unsubscribe from category "News"',
    'on x then track "Sent" for campaign "C" offer "O", enter flow welcome, exit flow welcome',
    'on x then send sms "hi", send push "yo", notify "Sales team"',
    'when valuation is "dormant" then send email "we-miss-you"',
    'segment s = tagged "n"\nflow f { for segment s from 2026-01-01 to 2026-12-31T12:00'
    ' timezone "America/Bogota" category "onb" re-enter after 90 days only converted'
    ' exit when score >= 100 or consent.email == false goal tagged "C" continue'
    ' wait 4 days send email "w" if had email.open within 7 days { send email "o"'
    ' from campaign "C" } else if score >= 10 { send push "r" } else { send sms "r" }'
    ' wait until tagged "d" at most 3 days wait until 09:00 on weekdays'
    ' split 50% { send email "a" } else { send email "b" } export pdf "s"'
    ' call webhook "https://x.example/h" exit flow f }\n'
    'on flow exit f where event.reason == "goal" then tag "x"\n'
    'on flow enter f then tag "y"\non flow goal f then tag "z"',
    "# a comment\nscore { # after the brace\n    on a +1 # after a line\n}  # after the block\n",
    'rule "s" when city == "a # not a comment" then tag "\\"quoted\\" \\u00e9"',
]


def example_files() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.rules"))


def doc_blocks() -> list[tuple[str, str]]:
    """(name, text) of every ``rules`` block of the docs."""
    found = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for number, match in enumerate(_FENCED_RULES.finditer(page.read_text("utf-8"))):
            found.append((f"{page.name}#{number}", match.group(1)))
    return found


def corpus() -> list[tuple[str, str]]:
    """(name, text) of every text above."""
    texts = [(path.name, path.read_text("utf-8")) for path in example_files()]
    texts += doc_blocks()
    texts += [(f"snippet{number}", text) for number, text in enumerate(SNIPPETS)]
    return texts
