"""The `dmsd` command line (cli: one parser, its COMMANDS) and one module per command (run, once, evaluate, bench,
preview: dmsd.commands.command says what each holds); daemon is the loop that `run` and `preview` drive.

Commands put the rooms of the data flow together; nothing in those rooms imports a command.
"""
