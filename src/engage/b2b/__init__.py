"""Accounts and leads (Dynamics 365's companies and expressions of interest).

Modules, one job each:

- :mod:`~engage.b2b.spec` — the compiled records: account fields and roll-ups, lead
  fields, score lines and rules;
- :mod:`~engage.b2b.compile` — from the checked program to those records (called by
  :mod:`engage.dsl.compiler`, generating code through the same code generator);
- :mod:`~engage.b2b.rollup` — one roll-up's running aggregate (sum, count, avg in O(1),
  max and min in O(log n));
- :mod:`~engage.b2b.members` — a contact's contribution to its account and the delta
  between two of them (what the per-contact step reports);
- :mod:`~engage.b2b.store` — accounts and leads: state, membership, lead scoring, the
  rules fired per account and per lead, snapshots;
- :mod:`~engage.b2b.runtime` — the glue an engine calls around each contact's event.

Rule sets that declare neither accounts nor leads never reach this package.
"""
