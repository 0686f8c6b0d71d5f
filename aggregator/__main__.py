"""`python -m aggregator` runs the command line."""

import sys

from aggregator.cli import main

# Guarded: a worker process started by `spawn` (where there is no forkserver) imports the main
# module again, and must not run the command line a second time.
if __name__ == "__main__":
    sys.exit(main())
