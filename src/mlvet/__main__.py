"""``python -m mlvet``."""

from mlvet.cli import main

raise SystemExit(main())
