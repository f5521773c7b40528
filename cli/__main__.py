"""``python -m cli``: the same as the ``estatewatch`` command."""

import sys

from cli.main import main

sys.exit(main())
