"""`python -m runapi_cli`: the same as the `runapi` command."""

from runapi_cli.main import main

raise SystemExit(main())
