"""``python -m vppfed.federates.cohda --role agents|controller|plan --config X.json --instance I.npz ...``."""
import sys

from vppfed.federates.cohda.adapter import main

sys.exit(main())
