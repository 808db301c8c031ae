"""``python -m tfswa`` (also what ``torchrun -m tfswa`` runs)."""

import sys

from tfswa.cli import main

sys.exit(main())
