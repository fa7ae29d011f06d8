"""Contact history: rows of treatments and their statuses, tracking, and what reads them.

One module a job:

- :mod:`~engage.history.statuses` — the declared statuses and which count as contact;
- :mod:`~engage.history.rows` — the layout of a row (compact, in the contact's extra);
- :mod:`~engage.history.track` — ``track`` in its three modes, and the row of a send;
- :mod:`~engage.history.conditions` — ``had status``, ``status for campaign``,
  ``count contacts`` and when time alone changes them;
- :mod:`~engage.history.channels` — per-channel activity of the contact profile;
- :mod:`~engage.history.batch` — ``engage track``: a list of ids in one batch;
- :mod:`~engage.history.summary` — history counts for ``engage report``.

``docs/history.md`` is the rule author's and operator's page.
"""

from engage.history.conditions import count_contacts
from engage.history.track import MODES, record_send, track

__all__ = ["MODES", "count_contacts", "record_send", "track"]
