"""GridLAB-D conventions that both the configs and the federates' outputs use (bottom layer: no vppfed imports)."""
from __future__ import annotations

__all__ = ["GLD_TIMEZONES"]

#: GridLAB-D POSIX-style zone names -> IANA zones (for HELICS seconds <-> local time; tzinfo.txt names).
GLD_TIMEZONES = {
    "PST+8PDT": "America/Los_Angeles",
    "MST+7MDT": "America/Denver",
    "MST+7": "America/Phoenix",
    "CST+6CDT": "America/Chicago",
    "EST+5EDT": "America/New_York",
    "AKST+9AKDT": "America/Anchorage",
    "HST+10": "Pacific/Honolulu",
    "UTC0": "UTC",
    "GMT0": "UTC",
}
