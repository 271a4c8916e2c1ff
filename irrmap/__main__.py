"""`python -m irrmap` is the `irrmap` command."""

import sys

from irrmap.app.cli import main

sys.exit(main())
