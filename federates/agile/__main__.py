"""``python -m vppfed.federates.agile aggregator|host --config X.json ...`` (see :mod:`.adapter`)."""
import sys

from vppfed.federates.agile.adapter import main

sys.exit(main())
