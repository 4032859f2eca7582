"""``python -m review.cli``: the same entry point as the installed ``review`` script."""

from review.cli import main

main()
