"""`python -m UnsupervisedCTSegLib` is the same as the `ctseg` command."""
import sys

from .cli.main import run

sys.exit(run())
