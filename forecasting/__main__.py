"""``python -m forecasting``: the ``forecast`` commands standalone."""

from forecasting.cli import main

raise SystemExit(main())
