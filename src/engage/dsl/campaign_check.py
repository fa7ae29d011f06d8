"""The checker's stage for campaigns and the contact policy (LANGUAGE.md sections 5, 6).

Declares the campaigns (a name used twice is refused) and the one ``policy`` block (a
second block is refused), then checks what only they know: a campaign's segments exist,
its unsubscribe link's category exists, the policy's time zone is known, its quiet hours
are real times of day, caps are positive; and, in rules, that every campaign a send or
an unsubscribe names is declared (when the program declares campaigns at all: before
campaigns existed, ``from campaign "C"`` was a free label, and such files keep working).
Every problem has its line, a caret and, where it helps, a did-you-mean. Linear in the
number of declarations and actions (an unknown time zone costs one scan of the zone
names, for its suggestion).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from zoneinfo import available_timezones

from engage.dsl import ast
from engage.dsl.declarations import check_positive_duration
from engage.dsl.report import Reporter
from engage.dsl.symbols import Symbols
from engage.errors import Span, did_you_mean
from engage.time.zones import is_zone, parse_clock


def check_campaigns(files: Sequence[ast.RulesFile], symbols: Symbols, reporter: Reporter) -> None:
    """Declare the campaigns and the policy into ``symbols``, and check their uses."""
    policy_at: tuple[str, Span] | None = None
    for rules_file in files:
        reporter.use_file(rules_file)
        for decl in rules_file.decls:
            if isinstance(decl, ast.CampaignDecl):
                if decl.name in symbols.campaigns:
                    first = symbols.campaigns[decl.name].span
                    reporter.report(
                        decl.name_span or decl.span,
                        f"campaign {decl.name!r} is declared twice (first at line {first.line})",
                    )
                    continue
                symbols.campaigns[decl.name] = decl
            elif isinstance(decl, ast.PolicyBlock):
                if policy_at is not None:
                    where = f"line {policy_at[1].line}"
                    if policy_at[0] != rules_file.path:
                        where += f" of {policy_at[0]}"
                    reporter.report(
                        decl.span, f"only one `policy` block is allowed (the first is at {where})"
                    )
                    continue
                policy_at = (rules_file.path, decl.span)
                symbols.policy = decl
    for rules_file in files:
        reporter.use_file(rules_file)
        for decl in rules_file.decls:
            if isinstance(decl, ast.CampaignDecl):
                _campaign(decl, symbols, reporter)
            elif isinstance(decl, ast.PolicyBlock) and symbols.policy is decl:
                _policy(decl, reporter)
            elif isinstance(decl, ast.RuleDecl):
                for action in decl.actions:
                    _action(action, symbols, reporter)


def _campaign(decl: ast.CampaignDecl, symbols: Symbols, reporter: Reporter) -> None:
    for name, span in zip(decl.segments, decl.segment_spans, strict=False):
        if name not in symbols.segments:
            reporter.report(
                span,
                f"campaign {decl.name!r}: unknown segment {name!r}",
                suggestion=did_you_mean(name, symbols.segments),
            )
    link = decl.link
    if link is not None and link.category and decl.category is None:
        reporter.report(
            link.span,
            f"campaign {decl.name!r} has no `category`: its unsubscribe link cannot name one",
        )


def _policy(block: ast.PolicyBlock, reporter: Reporter) -> None:
    if block.timezone is not None and not is_zone(block.timezone):
        reporter.report(
            block.timezone_span or block.span,
            f"unknown time zone {block.timezone!r}",
            suggestion=did_you_mean(block.timezone, _zone_names()),
        )
    quiet = block.quiet
    if quiet is not None:
        for text, span in ((quiet.start, quiet.start_span), (quiet.end, quiet.end_span)):
            _clock(text, span or quiet.span, reporter)
    seen: dict[tuple[str, str | None, float], Span] = {}
    for cap in block.caps:
        check_positive_duration(reporter, cap.window)
        if not (isinstance(cap.limit, int) and cap.limit > 0):
            reporter.report(cap.span, "a cap is a whole number of sends, at least 1")
        key = (cap.scope, cap.category, float(cap.window.seconds))
        if key in seen:
            reporter.report(cap.span, f"this cap repeats the one at line {seen[key].line}")
        seen.setdefault(key, cap.span)
    priorities: set[str] = set()
    for item in block.category_priorities:
        if item.category in priorities:
            reporter.report(item.span, f"category {item.category!r} is given a priority twice")
        priorities.add(item.category)
    channels: set[str] = set()
    for channel, span in zip(block.require_consent, block.consent_spans, strict=False):
        if channel in channels:
            reporter.report(span, f"`require consent {channel}` is written twice")
        channels.add(channel)


def _clock(text: str, span: Span, reporter: Reporter) -> None:
    try:
        parse_clock(text)
    except ValueError:
        hours, _, minutes = text.partition(":")
        suggestion = None
        if hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60:
            suggestion = f"{int(hours):02d}:{minutes}"
        reporter.report(
            span,
            f"not a time of day: {text!r} (write HH:MM, from 00:00 to 23:59)",
            suggestion=suggestion,
        )


def _action(action: ast.ActionNode, symbols: Symbols, reporter: Reporter) -> None:
    match action:
        case ast.SendAction(campaign=campaign, span=span) if campaign is not None:
            _campaign_name(campaign, span, symbols, reporter)
        case ast.UnsubscribeAction(scope="campaign", scope_name=name, span=span) if name:
            known = _campaign_name(name, span, symbols, reporter)
            if action.and_category:
                decl = symbols.campaigns.get(name)
                if decl is None and known:
                    reporter.report(
                        span,
                        f"`and category` reads the category of campaign {name!r}; "
                        "declare it with a `campaign` block",
                    )
                elif decl is not None and decl.category is None:
                    reporter.report(span, f"campaign {name!r} has no `category`")
        case _:
            pass


def _campaign_name(name: str, span: Span, symbols: Symbols, reporter: Reporter) -> bool:
    """Whether ``name`` may be used; reports an unknown name when campaigns are declared."""
    if not symbols.campaigns or name in symbols.campaigns:
        return True
    reporter.report(
        span,
        f"unknown campaign {name!r}",
        suggestion=did_you_mean(name, symbols.campaigns),
    )
    return False


@functools.cache
def _zone_names() -> tuple[str, ...]:
    """Every zone name the zone database knows (read once, for suggestions)."""
    return tuple(sorted(available_timezones()))
