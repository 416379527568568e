"""``python -m vppfed.federates.battery --config X.json --manager M.json [--resume]``: run the battery federate."""
import sys

from vppfed.federates.battery.adapter import main

sys.exit(main())
