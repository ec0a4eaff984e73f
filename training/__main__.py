"""`python -m training ...` runs the training command line."""

from training.cli import main

raise SystemExit(main())
