"""French formatting of what pages show: numbers, file sizes, dates, times and counts, one way everywhere.

Pure functions over CLDR data (Babel, locale fr_FR), independent of the server's locale, and registered as Jinja
filters and globals by `register(app)`:

    {{ 1234|number }}               « 1 234 » (narrow no-break space between thousands)
    {{ 507494|file_size }}          « 495,6 Ko » (« 37 Ko », « 2,4 Mo », « 512 o »)
    {{ day|long_date }}             « 6 décembre 2026 », « 1er janvier 2027 »
    {{ day|short_date }}            « 06/12/2026 » (tables)
    {{ moment|clock_time }}         « 02:00 »
    {{ moment|date_time }}          « 6 décembre 2026 à 02:00 »
    {{ moment|short_date_time }}    « 06/12/2026 à 02:00 » (tables)
    {{ n|suppliers_count }}         « Aucun fournisseur », « 1 fournisseur », « 12 fournisseurs »
    {{ count_of(n, "offre", "offres", "aucune offre") }}

No conversion of time zones here: a moment is shown as the wall-clock time it carries.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from babel.dates import format_date, format_time
from babel.numbers import format_decimal

LOCALE = "fr_FR"
# French units of file sizes: octet, kilo-octet, méga-octet, giga-octet (binary multiples, as file managers show).
SIZE_UNITS = ("o", "Ko", "Mo", "Go")
SIZE_STEP = 1024
# Sizes keep one decimal at most (« 495,6 Ko »), none when it is zero (« 37 Ko »).
DECIMAL_PATTERN = "#,##0.#"


def number(value: float | int | None, decimals: int = 0) -> str:
    """« 1 234 », « 12,5 » (decimals: the most decimal places shown; trailing zeros are dropped)."""
    if value is None:
        return ""
    pattern = "#,##0" + ("." + "#" * decimals if decimals > 0 else "")
    return format_decimal(value, format=pattern, locale=LOCALE)


def file_size(size: int | float | None) -> str:
    """A size in bytes as French readers write it: « 512 o », « 37 Ko », « 495,6 Ko », « 2,4 Mo »."""
    if size is None:
        return ""
    value = float(max(size, 0))
    unit = 0
    while value >= SIZE_STEP and unit < len(SIZE_UNITS) - 1:
        value /= SIZE_STEP
        unit += 1
    if unit == 0:
        return f"{format_decimal(int(value), format='#,##0', locale=LOCALE)}\u00a0{SIZE_UNITS[0]}"
    text = format_decimal(round(value, 1), format=DECIMAL_PATTERN, locale=LOCALE)
    return f"{text}\u00a0{SIZE_UNITS[unit]}"


def long_date(day: date | datetime | None) -> str:
    """« 6 décembre 2026 »; French writes the first of the month as an ordinal: « 1er janvier 2027 »."""
    if not day:
        return ""
    words = format_date(day, format="long", locale=LOCALE)
    return f"1er{words[1:]}" if day.day == 1 else words


def short_date(day: date | datetime | None) -> str:
    """« 06/12/2026 », for tables."""
    return format_date(day, format="short", locale=LOCALE) if day else ""


def clock_time(moment: datetime | time | None) -> str:
    """« 02:00 », « 14:30 »: 24-hour clock, a colon, always two digits."""
    return format_time(moment, "HH:mm", locale=LOCALE) if moment is not None else ""


def date_time(moment: datetime | None) -> str:
    """« 6 décembre 2026 à 02:00 »."""
    return f"{long_date(moment)} à {clock_time(moment)}" if moment else ""


def short_date_time(moment: datetime | None) -> str:
    """« 06/12/2026 à 02:00 », for tables and lists."""
    return f"{short_date(moment)} à {clock_time(moment)}" if moment else ""


def count_of(count: int, singular: str, plural: str, none: str | None = None) -> str:
    """« 1 offre », « 3 offres », and `none` for zero when given (« aucune offre »), else « 0 offre »."""
    if count == 0 and none is not None:
        return none
    return f"{number(count)} {singular if abs(count) < 2 else plural}"


def suppliers_count(count: int) -> str:
    """« Aucun fournisseur », « 1 fournisseur », « 1 234 fournisseurs »."""
    return count_of(count, "fournisseur", "fournisseurs", "Aucun fournisseur")


FILTERS: dict[str, Any] = {
    "number": number, "file_size": file_size, "long_date": long_date, "short_date": short_date,
    "clock_time": clock_time, "date_time": date_time, "short_date_time": short_date_time,
    "suppliers_count": suppliers_count,
}


def register(app) -> None:
    """The filters above on the app's templates, and count_of as a global (it takes several arguments)."""
    app.jinja_env.filters.update(FILTERS)
    app.jinja_env.globals["count_of"] = count_of
