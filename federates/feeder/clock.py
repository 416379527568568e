"""HELICS seconds <-> GridLAB-D local time: the ONE place where the feeder converts times.

HELICS time is seconds since the case start. ``step_to`` takes a naive local time in the model's time zone and answers
with an ISO string carrying the offset (FACTS.md). Adding seconds to a naive local time is wrong across a daylight-
saving change, so the conversion goes through UTC with the IANA zone that matches GridLAB-D's POSIX zone name.
Inside the repeated hour of the autumn change a naive local time is ambiguous for GridLAB-D itself; the first
occurrence is used (``fold=0``), and :meth:`GldClock.check_reached` reports a mismatch if GridLAB-D lands elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from vppfed.formats.gridlabd import GLD_TIMEZONES

__all__ = ["GldClock", "GLD_TIME_FORMAT"]

#: format of the naive local times ``step_to`` takes
GLD_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class GldClock:
    """Start time (naive local, ``YYYY-mm-dd HH:MM:SS``) and GridLAB-D zone name (``PST+8PDT``) of a model."""

    start: str
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(GLD_TIMEZONES[self.timezone])
        except KeyError:
            raise ValueError(f"unknown GridLAB-D time zone {self.timezone!r} (known: {', '.join(GLD_TIMEZONES)})") from None

    @property
    def start_utc(self) -> datetime:
        return datetime.strptime(self.start, GLD_TIME_FORMAT).replace(tzinfo=self.zone).astimezone(timezone.utc)

    def to_local(self, seconds: float) -> str:
        """Naive local time string for HELICS time ``seconds`` (whole seconds; GridLAB-D has 1 s resolution)."""
        whole = int(round(seconds))
        if abs(whole - seconds) > 1e-6:
            raise ValueError(f"GridLAB-D steps whole seconds; got t={seconds}")
        local = (self.start_utc + timedelta(seconds=whole)).astimezone(self.zone)
        return local.strftime(GLD_TIME_FORMAT)

    def to_seconds(self, iso_or_local: str) -> float:
        """HELICS seconds for an ISO time with offset (``step_to``'s answer) or a naive local time string."""
        text = iso_or_local.strip().replace("T", " ", 1)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return (moment.astimezone(timezone.utc) - self.start_utc).total_seconds()

    def start_label(self) -> str:
        """TESP metrics ``StartTime`` label with the zone abbreviation, e.g. ``2013-07-01 00:00:00 PDT``."""
        local = self.start_utc.astimezone(self.zone)
        return f"{local.strftime(GLD_TIME_FORMAT)} {local.tzname()}"
