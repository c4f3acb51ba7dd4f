"""ISO 8601 durations with the calendar arithmetic the policy needs.

Retention periods are calendar periods ("5 years", "3 months"), not fixed numbers of
seconds, so a :class:`Duration` keeps years and months apart from days and seconds and
adds them with :meth:`Duration.add_to`. Arithmetic happens in UTC. When the target month
has no such day (P1Y from 29 February, P3M from 30 November) the result is the last day
of the target month, which is how a Korean retention period "N년/N개월" is counted
(민법 제160조: a period ending in a month without the starting day ends on its last day).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_ISO = re.compile(
    r"^P(?!$)(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)


_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and calendar.isleap(year):
        return 29
    return _DAYS[month - 1]


@dataclass(frozen=True, slots=True)
class Duration:
    """A non-negative ISO 8601 duration such as ``P1Y``, ``P3M``, ``P10D`` or ``PT1H``."""

    years: int = 0
    months: int = 0
    days: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``PnYnMnWnDTnHnMnS`` (each part optional, at least one present)."""
        match = _ISO.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{text!r} is not an ISO 8601 duration (e.g. P1Y, P3M, P10D, PT1H)")
        part = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
        return cls(
            years=part["y"],
            months=part["mo"],
            days=part["d"] + 7 * part["w"],
            seconds=part["h"] * 3600 + part["mi"] * 60 + part["s"],
        )

    @property
    def is_calendar(self) -> bool:
        """True when the duration has years or months (its length depends on the start)."""
        return bool(self.years or self.months)

    def as_timedelta(self) -> timedelta:
        """The fixed length of a duration without years or months."""
        if self.is_calendar:
            raise ValueError(f"{self} has years or months; use add_to() with a start instant")
        return timedelta(days=self.days, seconds=self.seconds)

    def add_to(self, start: datetime) -> datetime:
        """``start`` + this duration in UTC, clamping a missing day to the month's last day."""
        # Runs for every record item collected: keep it free of needless work.
        if start.tzinfo is not UTC:
            start = start.astimezone(UTC)
        if self.years or self.months:
            month_index = start.month - 1 + self.months + 12 * self.years
            year = start.year + month_index // 12
            month = month_index % 12 + 1
            day = start.day
            if day > 28:
                day = min(day, _days_in_month(year, month))
            start = start.replace(year=year, month=month, day=day)
        if self.days or self.seconds:
            start = start + timedelta(days=self.days, seconds=self.seconds)
        return start

    def __str__(self) -> str:
        out = "P"
        if self.years:
            out += f"{self.years}Y"
        if self.months:
            out += f"{self.months}M"
        if self.days:
            out += f"{self.days}D"
        if self.seconds:
            hours, rest = divmod(self.seconds, 3600)
            minutes, secs = divmod(rest, 60)
            out += "T"
            out += f"{hours}H" if hours else ""
            out += f"{minutes}M" if minutes else ""
            out += f"{secs}S" if secs else ""
        return out if out != "P" else "PT0S"
