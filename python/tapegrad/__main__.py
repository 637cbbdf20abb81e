"""`python -m tapegrad`: the command line in tapegrad.cli."""
import sys

from .cli import main

sys.exit(main())
