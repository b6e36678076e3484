"""`python -m UnsupervisedCTSegLib` is the same as the `ctseg` command."""
import sys

from .cli import main

sys.exit(main())
