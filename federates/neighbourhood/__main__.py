"""``python -m vppfed.federates.neighbourhood --role manager|consumers|producers --config X.json --setup S.json``."""
import sys

from vppfed.federates.neighbourhood.adapter import main

sys.exit(main())
