"""``python -m fundarb``: the same as the ``fundarb`` command."""

from fundarb.cli import main

raise SystemExit(main())
