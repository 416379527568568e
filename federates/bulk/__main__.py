"""``python -m vppfed.federates.bulk --config pypower.json --case te30_pp.json --metrics-root ROOT [--hours H]``."""
import sys

from vppfed.federates.bulk.adapter import main

sys.exit(main())
