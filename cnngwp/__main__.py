"""``python -m cnngwp`` runs the command line."""

import sys

from cnngwp.cli import main

sys.exit(main())
