from dmsd.commands.cli import main

raise SystemExit(main())
