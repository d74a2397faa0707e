"""Stand-in for ``comfy.cli_args``: ComfyUI's ``--listen`` parsed from the command line the
same way (no value means every address, ``0.0.0.0,::``; the default is loopback)."""

from __future__ import annotations

import argparse
import sys

parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
parser.add_argument("--listen", type=str, default="127.0.0.1", nargs="?", const="0.0.0.0,::")
args = parser.parse_known_args(sys.argv[1:])[0]
