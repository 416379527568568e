"""``python -m vppfed.federates.weather --config <root>_weather_helics.json --weather weather.dat ...``."""
import sys

from vppfed.federates.weather.adapter import main

sys.exit(main())
