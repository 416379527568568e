"""``python -m vppfed.federates.feeder --config <root>_gridlabd.json --glm <root>.glm [...]``: run the feeder federate."""
import sys

from vppfed.federates.feeder.adapter import main

sys.exit(main())
