"""``python -m cli`` runs the ``hub`` console script."""

import sys

from cli.main import main

sys.exit(main())
