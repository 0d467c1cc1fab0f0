"""`python -m mailtui` runs the command line."""

from mailtui.cli import main

raise SystemExit(main())
