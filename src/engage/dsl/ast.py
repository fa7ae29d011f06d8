"""The typed syntax tree of the rules language.

Nodes are frozen, slotted attrs classes: compared by value (so tests can build the
expected tree by hand), hashable, and cheap. Every node carries the :class:`Span` of the
text it came from, so that the checker and the engine can point at it. The parser
builds these nodes and nothing else; the checker reads them; the code generator turns
the conditions into Python source.

Conditions and value expressions share one node family (:data:`Expr`): ``consent.email``
is a value and also a condition; the checker decides which is which by type.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

from engage.errors import Span

# ---------------------------------------------------------------------------
# Value and condition expressions
# ---------------------------------------------------------------------------


@attrs.frozen
class Number:
    """A numeric literal (``3``, ``-5``, ``2.5``); ints stay ints."""

    value: int | float
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class String:
    """A text literal, with escapes already resolved."""

    value: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Bool:
    """``true`` or ``false``."""

    value: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class TimeLit:
    """A moment written in the rules (``2026-01-01``, ``2026-01-01T09:00:00Z``).

    ``value`` is seconds since the Unix epoch, UTC; a time without zone is UTC.
    """

    value: float
    text: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class DurationLit:
    """A length of time (``15 days``); ``seconds`` is its exact length in seconds.

    Months count 30 days and years 365 days (documented in the language reference).
    """

    seconds: float
    text: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ListLit:
    """``["a", "b"]``: the right-hand side of ``in`` / ``not in``."""

    items: tuple[Expr, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Now:
    """``now``: the engine clock."""

    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Name:
    """A bare name: a declared field, a score, or a built-in (``last_activity``...)."""

    name: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Consent:
    """``consent.email``: the contact's consent for a channel (true, false or empty)."""

    channel: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class EventAttr:
    """``event.url``, ``event.type``: an attribute of the triggering event.

    ``path`` is the dotted path after ``event.``; ``type``, ``id``, ``at`` and
    ``contact`` read the envelope, every other name reads ``data``.
    """

    path: tuple[str, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class EntityAttr:
    """``account.tier``, ``lead.interest``: a field or score of the contact's account, or
    of the lead a lead rule is about (``docs/accounts.md``)."""

    entity: Literal["account", "lead"]
    name: str
    span: Span = attrs.field(eq=False, repr=False)


ArithOp: TypeAlias = Literal["+", "-", "*", "/"]


@attrs.frozen
class Arith:
    """``left OP right`` with ``+ - * /``; an empty side makes the result empty."""

    op: ArithOp
    left: Expr
    right: Expr
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Neg:
    """Unary minus."""

    operand: Expr
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Count:
    """``count TYPE [where COND] within D``: how many such events in the window."""

    event_type: str
    where: Expr | None
    window: DurationLit
    span: Span = attrs.field(eq=False, repr=False)


CompareOp: TypeAlias = Literal["==", "!=", ">", ">=", "<", "<="]


@attrs.frozen
class Compare:
    """``left OP right``; see the language reference for comparisons with empty."""

    op: CompareOp
    left: Expr
    right: Expr
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class IsEmpty:
    """``X is empty`` (or ``X is not empty`` when ``negated``)."""

    operand: Expr
    negated: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Between:
    """``X between LOW and HIGH``, both ends included (``negated``: ``not between``)."""

    operand: Expr
    low: Expr
    high: Expr
    negated: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class InList:
    """``X in [...]`` / ``X not in [...]``."""

    operand: Expr
    items: ListLit
    negated: bool
    span: Span = attrs.field(eq=False, repr=False)


TextOp: TypeAlias = Literal["contains", "startswith", "endswith", "matches"]


@attrs.frozen
class TextMatch:
    """``X contains|startswith|endswith|matches "s"``; on a list, ``contains`` is membership."""

    op: TextOp
    operand: Expr
    pattern: Expr
    negated: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Tagged:
    """``tagged "T"``."""

    tag: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class InGroup:
    """``in group "G"``."""

    group: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class InSegment:
    """``in segment NAME``."""

    segment: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Subscribed:
    """``subscribed to "L"``: the contact is on subscription list L."""

    list_name: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Within:
    """``X within D`` (``older=False``) or ``X older than D`` (``older=True``).

    ``X within D`` holds while ``now - X < D``; ``older than`` is its exact complement
    on a non-empty X; both are false when X is empty.
    """

    operand: Expr
    window: DurationLit
    older: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Had:
    """``had TYPE [where COND] within D``."""

    event_type: str
    where: Expr | None
    window: DurationLit
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class HadStatus:
    """``had status "S" [for campaign "C"] within D``: a history row (of campaign C) had
    status S at some moment of the window (docs/history.md)."""

    status: str
    campaign: str | None
    window: DurationLit
    span: Span = attrs.field(eq=False, repr=False)
    status_span: Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class StatusFor:
    """``status for campaign "C"``: the current status of the contact's latest history
    row of campaign C (text; empty when it has none)."""

    campaign: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class CountContacts:
    """``count contacts within D``: history rows whose status counts as contact, by
    their contact time."""

    window: DurationLit
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class And:
    """``a and b and ...`` (flattened)."""

    items: tuple[Expr, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Or:
    """``a or b or ...`` (flattened)."""

    items: tuple[Expr, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Not:
    """``not X``."""

    operand: Expr
    span: Span = attrs.field(eq=False, repr=False)


Expr: TypeAlias = (
    Number
    | String
    | Bool
    | TimeLit
    | DurationLit
    | ListLit
    | Now
    | Name
    | Consent
    | EventAttr
    | EntityAttr
    | Arith
    | Neg
    | Count
    | Compare
    | IsEmpty
    | Between
    | InList
    | TextMatch
    | Tagged
    | InGroup
    | InSegment
    | Subscribed
    | Within
    | Had
    | HadStatus
    | StatusFor
    | CountContacts
    | And
    | Or
    | Not
)

# ---------------------------------------------------------------------------
# Declarations
# ---------------------------------------------------------------------------

FieldType: TypeAlias = Literal["text", "number", "time", "bool", "list"]


@attrs.frozen
class FieldDecl:
    """``name: type`` inside ``fields { ... }``."""

    name: str
    type: FieldType
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class FieldsBlock:
    """``fields { ... }``."""

    fields: tuple[FieldDecl, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class CapPerWindow:
    """``max N per D``: at most N points from this line within any window of length D."""

    limit: int | float
    window: DurationLit
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class CapTotal:
    """``max N total``: at most N points from this line over the contact's lifetime."""

    limit: int | float
    span: Span = attrs.field(eq=False, repr=False)


Cap: TypeAlias = CapPerWindow | CapTotal


@attrs.frozen
class ScoreLine:
    """``on TYPE ±N [where COND] [max N per D | max N total] [once]``."""

    event_type: str
    points: int | float
    where: Expr | None
    cap: Cap | None
    once: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Clamp:
    """``clamp LO to HI``."""

    low: int | float
    high: int | float
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Decay:
    """``decay half-life D``."""

    half_life: DurationLit
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ScoreBlock:
    """``score [NAME] { ... }``; the unnamed block declares the score named ``score``."""

    name: str
    lines: tuple[ScoreLine, ...]
    decay: Decay | None
    clamp: Clamp | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ValuationClass:
    """``CLASS within D`` inside ``valuation { ... }``."""

    name: str
    window: DurationLit
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ValuationBlock:
    """``valuation { ... }``: activity-recency classes, checked in written order."""

    classes: tuple[ValuationClass, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class StatusDecl:
    """``NAME [counts as contact]`` inside ``statuses { ... }``."""

    name: str
    counts: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class StatusesBlock:
    """``statuses { ... }``: the contact-history statuses (they replace the defaults)."""

    statuses: tuple[StatusDecl, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class EntityFieldsBlock:
    """``account fields { ... }`` or ``lead fields { ... }``."""

    entity: Literal["account", "lead"]
    fields: tuple[FieldDecl, ...]
    span: Span = attrs.field(eq=False, repr=False)


RollupKind: TypeAlias = Literal["sum", "max", "min", "avg", "count"]


@attrs.frozen
class AccountScoreDecl:
    """``account score NAME = sum|max|min|avg of SCORE over contacts`` or
    ``account score NAME = count of contacts [where COND]``: a roll-up of the account's
    contacts, kept from their changes."""

    name: str
    kind: RollupKind
    score: str | None
    where: Expr | None
    span: Span = attrs.field(eq=False, repr=False)
    score_span: Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class LeadScoreDecl:
    """``lead score NAME { score lines, decay, clamp }``: scored from the lead's
    contact's events (or its account's contacts' events)."""

    block: ScoreBlock
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class SegmentDecl:
    """``segment NAME = COND``."""

    name: str
    condition: Expr
    span: Span = attrs.field(eq=False, repr=False)


# ---------------------------------------------------------------------------
# Triggers, firing modes, actions, rules
# ---------------------------------------------------------------------------


@attrs.frozen
class WhenTrigger:
    """``when COND``: edge-triggered on the contact's state."""

    condition: Expr
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class OnEvent:
    """``on TYPE [where COND]``: every matching event from outside."""

    event_type: str
    where: Expr | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class OnScoreChange:
    """``on SCORE change [where COND]``: engine-made, every change of that score."""

    score: str
    where: Expr | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class OnSegment:
    """``on segment enter|exit NAME [where COND]``: engine-made."""

    kind: Literal["enter", "exit"]
    segment: str
    where: Expr | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class OnTagAdded:
    """``on tag added ["T"] [where COND]``: engine-made, a tag the contact did not have."""

    tag: str | None
    where: Expr | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class OnFlow:
    """``on flow enter|exit|goal NAME [where COND]``: engine-made, a contact entering,
    leaving (``event.reason``) or reaching the goal of a flow."""

    kind: Literal["enter", "exit", "goal"]
    flow: str
    where: Expr | None
    span: Span = attrs.field(eq=False, repr=False)


Trigger: TypeAlias = WhenTrigger | OnEvent | OnScoreChange | OnSegment | OnTagAdded | OnFlow

ModeKind: TypeAlias = Literal["edge", "each", "once", "rearm"]


@attrs.frozen
class Mode:
    """How often a rule may fire: ``edge`` (default), ``each`` time, ``once``, or
    ``rearm`` (``re-arm when COND``); ``cooldown`` is ``at most once per D``."""

    kind: ModeKind = "edge"
    rearm: Expr | None = None
    cooldown: DurationLit | None = None
    span: Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class TagAction:
    """``tag "T"`` / ``untag "T"``."""

    verb: Literal["tag", "untag"]
    tag: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class GroupAction:
    """``add to group "G"`` / ``remove from group "G"``."""

    verb: Literal["add_to_group", "remove_from_group"]
    group: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class SetAction:
    """``set FIELD = EXPR``."""

    field: str
    value: Expr
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ClearAction:
    """``clear FIELD``."""

    field: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ScoreAction:
    """``add N to SCORE`` / ``subtract N from SCORE``."""

    verb: Literal["add_score", "subtract_score"]
    amount: Expr
    score: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class StatusAction:
    """``suspend`` / ``reactivate``."""

    verb: Literal["suspend", "reactivate"]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class UnsubscribeAction:
    """``unsubscribe [from campaign "C" [and category] | from category "C"] [channel CH]``.

    ``and_category``: from the campaign and from its category (the compiler reads the
    category from the campaign's declaration).
    """

    scope: Literal["all", "campaign", "category"]
    scope_name: str | None
    channel: str | None
    span: Span = attrs.field(eq=False, repr=False)
    and_category: bool = False


@attrs.frozen
class ListAction:
    """``subscribe to list "L"`` / ``unsubscribe from list "L"``."""

    verb: Literal["subscribe_to_list", "unsubscribe_from_list"]
    list_name: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class TrackAction:
    """``track "STATUS" [for campaign "C"] [offer "O"] [channel CH] [only update|create]``:
    update the latest matching contact-history row or create one (``mode`` ``both``),
    or only one of the two."""

    status: str
    campaign: str | None
    offer: str | None
    span: Span = attrs.field(eq=False, repr=False)
    channel: str | None = None
    mode: Literal["both", "update", "create"] = "both"
    status_span: Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class FlowAction:
    """``enter flow NAME`` / ``exit flow NAME``."""

    verb: Literal["enter_flow", "exit_flow"]
    flow: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class NotifyAction:
    """``notify TEAM ["message"]``."""

    team: str
    message: str | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class TaskAction:
    """``create task "TITLE" [for TEAM] [due in D]``."""

    title: str
    team: str | None
    due: DurationLit | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class SendAction:
    """``send email|sms|push "TEMPLATE" [from campaign "C"] [transactional]``.

    A transactional send skips caps, quiet hours, marketing consent and unsubscribes
    (never a refusal of every message, a suspension or a hard bounce).
    """

    channel: Literal["email", "sms", "push"]
    template: str
    campaign: str | None
    span: Span = attrs.field(eq=False, repr=False)
    transactional: bool = False


@attrs.frozen
class WebhookAction:
    """``call webhook "URL"``."""

    url: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ExportAction:
    """``export pdf "NAME"``: an outside action for the host (the seed's PDF export)."""

    kind: Literal["pdf"]
    name: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class DoAction:
    """``do NAME [ARG ...]``: an action the host application registers."""

    name: str
    args: tuple[Expr, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class QualifyAction:
    """``qualify lead``: marks the rule's lead sales-ready, once (it stays qualified)."""

    span: Span = attrs.field(eq=False, repr=False)


ActionNode: TypeAlias = (
    TagAction
    | GroupAction
    | SetAction
    | ClearAction
    | ScoreAction
    | StatusAction
    | UnsubscribeAction
    | ListAction
    | TrackAction
    | FlowAction
    | NotifyAction
    | TaskAction
    | SendAction
    | WebhookAction
    | ExportAction
    | DoAction
    | QualifyAction
)


@attrs.frozen
class RuleDecl:
    """A trigger with its actions: ``rule "NAME" [priority N] ...`` or anonymous.

    ``name`` is None for anonymous rules; the checker names them ``FILE:LINE``.
    """

    name: str | None
    priority: int
    trigger: Trigger
    actions: tuple[ActionNode, ...]
    mode: Mode
    span: Span = attrs.field(eq=False, repr=False)
    name_span: Span | None = attrs.field(default=None, eq=False, repr=False)


# ---------------------------------------------------------------------------
# Campaigns and policies (LANGUAGE.md sections 5 and 6)
# ---------------------------------------------------------------------------


@attrs.frozen
class UnsubscribeLink:
    """``unsubscribe link SCOPE[, channel only | all channels]`` of a campaign: what the
    link in its marketing sends unsubscribes from (the campaign, its category, both, or
    everything; on the send's channel or on every channel)."""

    campaign: bool
    category: bool
    channel_only: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class CampaignDecl:
    """``campaign "NAME" { for segment S, ...; category "K"; priority N; log sends as "S";
    requires list "L"; unsubscribe link ... }``; every item optional, at most once.

    ``segment_spans`` are the spans of the names in ``segments`` (for the checker)."""

    name: str
    segments: tuple[str, ...]
    category: str | None
    priority: int | None
    log_status: str | None
    requires_list: str | None
    link: UnsubscribeLink | None
    span: Span = attrs.field(eq=False, repr=False)
    name_span: Span | None = attrs.field(default=None, eq=False, repr=False)
    segment_spans: tuple[Span, ...] = attrs.field(default=(), eq=False, repr=False)


PolicyCapScope: TypeAlias = Literal["email", "sms", "push", "any", "category", "contacts"]


@attrs.frozen
class PolicyCap:
    """``CHANNEL|any at most N per D``, ``category "K" at most N per D`` or
    ``contacts at most N per D``."""

    scope: PolicyCapScope
    category: str | None
    limit: int | float
    window: DurationLit
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class QuietHours:
    """``quiet hours HH:MM to HH:MM`` as written (the checker reads the times)."""

    start: str
    end: str
    span: Span = attrs.field(eq=False, repr=False)
    start_span: Span | None = attrs.field(default=None, eq=False, repr=False)
    end_span: Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class CategoryPriority:
    """``category "K" priority N`` in a policy: the priority of the category's sends
    when their campaign gives none."""

    category: str
    priority: int
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class PolicyBlock:
    """``policy { ... }``: the program's contact policy (one block per program)."""

    timezone: str | None
    caps: tuple[PolicyCap, ...]
    quiet: QuietHours | None
    over_cap: Literal["drop", "hold"] | None
    require_consent: tuple[str, ...]
    category_priorities: tuple[CategoryPriority, ...]
    span: Span = attrs.field(eq=False, repr=False)
    timezone_span: Span | None = attrs.field(default=None, eq=False, repr=False)
    consent_spans: tuple[Span, ...] = attrs.field(default=(), eq=False, repr=False)


# ---------------------------------------------------------------------------
# Tests inside rules files (run by ``engage test``; the compiler never reads them)
# ---------------------------------------------------------------------------


@attrs.frozen
class ContactRef:
    """The contact a test step is about: ``jhon`` or ``"c-17"``."""

    id: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Assignment:
    """``NAME = VALUE`` in ``given contact ... { }`` or in an event's ``with { }``."""

    name: str
    value: Expr
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class GivenStep:
    """``given contact ID { NAME = VALUE, tags "A", "B" }``: a contact's starting state."""

    contact: ContactRef
    values: tuple[Assignment, ...]
    tags: tuple[str, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class EventStep:
    """``at TIME event TYPE for ID [with { NAME = VALUE, ... }]``."""

    at: TimeLit
    event_type: str
    contact: ContactRef
    data: tuple[Assignment, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class AdvanceStep:
    """``at TIME advance``: move the clock, firing what is due by then."""

    at: TimeLit
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ActionPattern:
    """The action an expectation names: its verb (as in the actions out, ``send_email``)
    and the arguments written, in order; the arguments left out match anything."""

    verb: str
    args: tuple[str, ...]
    text: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ExpectAction:
    """``expect [no] ACTION for ID [at TIME]``: the contact got (or did not get) such an
    action during the test, at TIME when one is written."""

    pattern: ActionPattern
    negated: bool
    contact: ContactRef
    when: TimeLit | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ExpectCondition:
    """``expect ID: CONDITION`` or ``expect NAME of ID OP VALUE``: a condition that holds
    for the contact now, as a query would read it. ``subject`` is the name read by the
    second form (its value is shown when the expectation fails)."""

    contact: ContactRef
    condition: Expr
    subject: Name | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ExpectSegment:
    """``expect segment NAME has N``: how many contacts are in the segment now."""

    segment: str
    size: int
    segment_span: Span = attrs.field(eq=False, repr=False)
    span: Span = attrs.field(eq=False, repr=False)


Expectation: TypeAlias = ExpectAction | ExpectCondition | ExpectSegment


@attrs.frozen
class ExpectStep:
    """``[at TIME] expect ...``; with ``at``, the clock moves to TIME first."""

    at: TimeLit | None
    expectation: Expectation
    span: Span = attrs.field(eq=False, repr=False)


TestStep: TypeAlias = GivenStep | EventStep | AdvanceStep | ExpectStep


@attrs.frozen
class TestDecl:
    """``test "NAME" { STEP ... }``: steps run in order against a fresh engine."""

    name: str
    steps: tuple[TestStep, ...]
    span: Span = attrs.field(eq=False, repr=False)


# ---------------------------------------------------------------------------
# Flows (section 5)
# ---------------------------------------------------------------------------


@attrs.frozen
class WaitStep:
    """``wait D``."""

    duration: DurationLit
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class WaitUntilStep:
    """``wait until COND [at most D]``: goes on when COND holds (at once if it already
    does), or when ``at_most`` has passed."""

    condition: Expr
    at_most: DurationLit | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class WaitClockStep:
    """``wait until HH:MM [on weekdays]``, in the contact's time zone.

    ``minutes`` is the time of day in minutes after midnight; ``text`` as written.
    """

    minutes: int
    text: str
    weekdays: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Branch:
    """One ``if COND { ... }`` or ``else if COND { ... }`` of an :class:`IfStep`."""

    condition: Expr
    steps: tuple[FlowStep, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class IfStep:
    """``if C { } [else if C { }]* [else { }]``: the first branch whose condition holds
    when the contact reaches the step (else the ``else`` steps, else none)."""

    branches: tuple[Branch, ...]
    otherwise: tuple[FlowStep, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class SplitStep:
    """``split N% { } else { }``: a cohort of N% of entries takes the first block."""

    percent: float
    first: tuple[FlowStep, ...]
    second: tuple[FlowStep, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ActionStep:
    """A flow step that is an action (a send, a state action, ``notify``...)."""

    action: ActionNode
    span: Span = attrs.field(eq=False, repr=False)


FlowStep: TypeAlias = WaitStep | WaitUntilStep | WaitClockStep | IfStep | SplitStep | ActionStep
#: The step classes, for ``isinstance``.
FlowStepTypes = (WaitStep, WaitUntilStep, WaitClockStep, IfStep, SplitStep, ActionStep)


@attrs.frozen
class ReEnter:
    """``re-enter after D [only converted | only dismissed]``."""

    after: DurationLit
    only: Literal["converted", "dismissed"] | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class FlowGoal:
    """``goal COND [continue]``: conversion; the contact leaves unless ``continue``."""

    condition: Expr
    keep_going: bool
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class FlowDecl:
    """``flow NAME { HEADER* STEP* }`` (LANGUAGE.md section 5).

    ``start`` and ``end`` are the ``from`` / ``to`` times as written: a time without
    zone is read in the flow's ``timezone`` by the compiler.
    """

    name: str
    segments: tuple[str, ...]
    start: TimeLit | None
    end: TimeLit | None
    timezone: String | None
    category: str | None
    reenter: ReEnter | None
    exit: Expr | None
    goal: FlowGoal | None
    steps: tuple[FlowStep, ...]
    span: Span = attrs.field(eq=False, repr=False)
    name_span: Span = attrs.field(eq=False, repr=False)
    #: Where each name of ``segments`` is written.
    segment_spans: tuple[Span, ...] = attrs.field(default=(), eq=False, repr=False)


Decl: TypeAlias = (
    FieldsBlock
    | ScoreBlock
    | ValuationBlock
    | SegmentDecl
    | RuleDecl
    | FlowDecl
    | TestDecl
    | CampaignDecl
    | PolicyBlock
    | StatusesBlock
    | EntityFieldsBlock
    | AccountScoreDecl
    | LeadScoreDecl
)


@attrs.frozen
class RulesFile:
    """One parsed ``.rules`` file: its declarations in written order."""

    path: str
    source: str = attrs.field(eq=False, repr=False)
    decls: tuple[Decl, ...]
