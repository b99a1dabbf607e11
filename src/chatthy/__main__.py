"""``python -m chatthy`` runs the command line."""

from chatthy.cli import main

main()
