"""``python -m cnngwp`` runs the command line."""

import sys

from cnngwp.cli import main

if __name__ == "__main__":  # Dask's worker processes re-import this module when spawned
    sys.exit(main())
