"""One module per ``ttpflow`` subcommand; each exposes ``register(subparsers)``.

A module's ``register`` adds its parser and sets ``func`` (taking the parsed args, returning an exit
code). New commands need only a new module here: the CLI discovers them.
"""
