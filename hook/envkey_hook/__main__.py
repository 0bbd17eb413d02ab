from envkey_hook.cli import main

raise SystemExit(main())
