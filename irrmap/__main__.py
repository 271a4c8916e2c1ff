"""`python -m irrmap` is the `irrmap` command."""

import sys

from irrmap.cli import main

sys.exit(main())
