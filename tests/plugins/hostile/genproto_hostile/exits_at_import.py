"""Calls sys.exit while being imported: must not end the genproto command."""

import sys

sys.exit(3)
