"""``engage report``: the whole picture of a replay or a state folder.

- :mod:`~engage.report.collect` gathers the facts (a replay, or a state folder read
  without changing it), counting the action stream with the ledgers of
  :mod:`~engage.report.ledgers` (flows per version, each send once by its outcome);
- :mod:`~engage.report.sections` turns them into one dict of numbers (the ``--json``
  object) and lists the sections, the place to add one; the flows and sends sections
  are :mod:`~engage.report.flows` and :mod:`~engage.report.sends`;
- :mod:`~engage.report.export` writes ``--csv``: where each contact is in each flow;
- :mod:`~engage.report.text`, :mod:`~engage.report.html` and
  :mod:`~engage.report.plots` show those numbers;
- :mod:`~engage.report.command` is the command itself.

Nothing here is imported by the engine; matplotlib and rich are imported only when a
page or a terminal table is drawn.
"""
