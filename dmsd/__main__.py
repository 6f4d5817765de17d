from dmsd.cli import main

raise SystemExit(main())
