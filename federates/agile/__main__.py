"""``python -m vppfed.federates.agile aggregator|host --config X.json ...`` (see :mod:`.federate`)."""
import sys

from vppfed.federates.agile.federate import main

sys.exit(main())
