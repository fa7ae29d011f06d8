"""``python -m engage.bench``: the same as ``engage bench``."""

from engage.bench import main

raise SystemExit(main())
