"""`python -m shiftbench` runs the same command as `shiftbench`."""

from .entry import main

main()
