"""The `dmsd` command line and what each command runs: the daemon loop, `--once`, `evaluate` and `bench`.

Commands put the rooms of the data flow together; nothing in those rooms imports a command.
"""
