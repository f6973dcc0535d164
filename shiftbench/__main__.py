"""`python -m shiftbench` runs the same command as `shiftbench`."""

from .cli import main

main()
