"""``python -m skipclip``: the same as the ``skipclip`` command."""

import sys

from skipclip.cli import main

sys.exit(main())
