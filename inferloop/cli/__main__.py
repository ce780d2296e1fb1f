"""`python -m inferloop.cli`: the same as the `inferloop-tabular` command."""

from inferloop.cli.main import main

main()
