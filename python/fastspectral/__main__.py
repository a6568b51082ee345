"""``python -m fastspectral`` runs the ``fastspectral`` command (see :mod:`fastspectral.cli`)."""
import sys

from .cli import main

sys.exit(main())
