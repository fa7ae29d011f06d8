"""``python -m engage``: the same as the ``engage`` command."""

from engage.cli import main

raise SystemExit(main())
