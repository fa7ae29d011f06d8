"""Campaigns, contact policies, consent and unsubscribe scopes: the send gate.

LANGUAGE.md sections 5 and 6. One module a job:

- :mod:`~engage.policy.specs` — the compiled records (``CampaignSpec``, ``PolicySpec``)
  that :class:`~engage.program.Program` holds;
- :mod:`~engage.policy.consent` — what stops a send whatever its campaign: suspension,
  a refusal of every message, a hard bounce, marketing consent and unsubscribes;
- :mod:`~engage.policy.campaigns` — whether a contact qualifies for a campaign now;
- :mod:`~engage.policy.caps` — the rolling-window send counters and cap decisions;
- :mod:`~engage.policy.quiet` — quiet hours in the contact's time zone;
- :mod:`~engage.policy.held` — held rule sends kept in the contact's state;
- :mod:`~engage.policy.gate` — :class:`~engage.policy.gate.SendGate`, which settles a
  moment's sends of one contact with all of the above.

Nothing here is imported by this package's ``__init__``: :mod:`engage.program` imports
the specs, and the gate imports the program.
"""
