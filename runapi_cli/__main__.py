from runapi_cli.main import main

raise SystemExit(main())
