"""Numbers and dates from outside, brought into range where they enter.

Feeds, HTTP headers, config files, front matter and the store can hold values that
Python's ``datetime``, ``timedelta`` or ``int`` cannot take: a year-9999 date seen from
another zone, a ``Retry-After`` of ``²`` (``str.isdigit`` says yes, ``int`` says no),
an HTTP date in the year 9999999999. Each such value passes through one of these
functions first, and comes out in range or as ``None`` (refused), so that no later
step of a job can overflow halfway through.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# Years a stored date may have in UTC: four digits, so stored dates sort as text, and a year
# clear of datetime's limits on either side, so the date can be shown in any zone and moved by
# a day or two without overflowing.
YEARS = range(1000, 9999)
# The most a bounded move may be: a hundred years, far inside timedelta's limits.
MAX_SECONDS = 100 * 366 * 86400.0
_MOST_DIGITS = 18  # a whole number of more digits is past every bound used here (and int64)


def instant(when: datetime) -> datetime | None:
    """An aware ``when`` whose year in UTC is in ``YEARS``, or None."""
    try:
        return when if when.astimezone(UTC).year in YEARS else None
    except (OverflowError, ValueError):  # before 0001-01-01 or after 9999-12-31 once in UTC
        return None


def from_utc_tuple(struct: Sequence[int]) -> datetime | None:
    """A UTC time tuple (as feedparser gives) whose year is in ``YEARS``, or None: its year may be 0
    (0001-01-01 in a zone east of UTC) or past 9999, which calendar and datetime refuse."""
    try:
        return instant(datetime.fromtimestamp(calendar.timegm(tuple(struct)), UTC))
    except (OverflowError, OSError, ValueError):
        return None


def http_date(value: str) -> datetime | None:
    """An HTTP date (RFC 9110: IMF-fixdate or the obsolete forms) in range, or None."""
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):  # a year of 20 digits overflows a C long
        return None
    return instant(when if when.tzinfo else when.replace(tzinfo=UTC))


def whole(text: str, most: int) -> int | None:
    """A whole number written in ASCII digits, at most ``most`` (a larger one is taken as
    ``most``); None if ``text`` is not such a number ('²', '١٢', '-5', '1e3', '')."""
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    return most if len(text) > _MOST_DIGITS else min(int(text), most)


def clamp(seconds: float, least: float, most: float) -> float:
    """``seconds`` within [least, most]; NaN is taken as ``least``."""
    return least if math.isnan(seconds) else min(max(seconds, least), most)


def later(when: datetime, seconds: float) -> datetime:
    """``when`` moved by ``seconds``; past datetime's limits it stops a day inside them (where
    it can still be seen from any zone) instead of overflowing."""
    try:
        return when + timedelta(seconds=clamp(seconds, -MAX_SECONDS, MAX_SECONDS))
    except OverflowError:
        edge = datetime(9999, 12, 30) if seconds > 0 else datetime(1, 1, 2)
        return edge.replace(tzinfo=when.tzinfo)
