"""``python -m vppfed.federates.market --config <root>_sub_7.json --agent-dict <root>_agent_dict.json ...``."""
import sys

from vppfed.federates.market.adapter import main

sys.exit(main())
