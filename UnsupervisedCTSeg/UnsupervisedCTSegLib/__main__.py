"""`python -m UnsupervisedCTSegLib` is the same as the `ctseg` command."""
import sys

from .cli import run

sys.exit(run())
