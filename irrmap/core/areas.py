"""Area units: irrmap computes in square metres and converts only at the edges (tables in, reports out)."""

from __future__ import annotations

import re

from irrmap.core.errors import InputError

ACRE_M2 = 4046.8564224  # international acre (exact: 43,560 international square feet)
# 1 mu (市亩, the Chinese statistical unit) = 1/15 ha = 666.67 m2 by definition: the market system (市制, kept by the
# State Council's 1959 order on unified measures) fixes 1 chi = 1/3 m and 1 mu = 6,000 square chi = 6,000 / 9 m2.
# Chinese yearbooks report irrigated areas in 10,000 mu (万亩) = 666.67 ha, or in 1,000 ha (千公顷).
MU_M2 = 10000.0 / 15.0

M2_PER_UNIT = {
    "m2": 1.0,
    "ha": 1.0e4,
    "1000ha": 1.0e7,
    "km2": 1.0e6,
    "mu": MU_M2,
    "10000mu": 1.0e4 * MU_M2,
    "acres": ACRE_M2,
    "1000acres": 1000.0 * ACRE_M2,
}

_ALIASES = {  # spellings after _key (lower case, one space, "²" -> "2", "sq." -> "sq", "10,000" -> "10000")
    "m2": ("m2", "m^2", "sqm", "sq m", "square metres", "square meters", "square metre", "square meter"),
    "ha": ("ha", "hectare", "hectares", "公顷"),
    "1000ha": ("1000ha", "1000 ha", "1000 hectares", "1000 hectare", "kha", "thousand ha", "thousand hectares", "10^3 ha",
               "10^3 hectares", "'000 ha", "千公顷"),
    "km2": ("km2", "km^2", "sq km", "sqkm", "square km", "square kilometres", "square kilometers", "square kilometre",
            "square kilometer", "平方公里", "平方千米"),
    "mu": ("mu", "亩"),
    "10000mu": ("10000mu", "10000 mu", "10k mu", "10^4 mu", "ten thousand mu", "wan mu", "万亩"),
    "acres": ("acres", "acre", "ac"),
    "1000acres": ("1000acres", "1000 acres", "thousand acres", "kac", "1000 acre", "10^3 acres", "'000 acres"),
}
_LOOKUP = {alias: unit for unit, aliases in _ALIASES.items() for alias in aliases}


def _key(unit) -> str:
    """A spelling of an area unit in the form of the _ALIASES: lower case, spaces collapsed, the superscript ²
    as 2, "sq." as "sq", the thousands separators of a number dropped ("10,000 mu" -> "10000 mu")."""
    key = " ".join(str(unit).strip().lower().replace("²", "2").split())
    key = re.sub(r"\bsq\.\s*", "sq ", key)
    return re.sub(r"(?<=\d)[,\u2009\u202f](?=\d{3}(?!\d))", "", key)


def normalise_area_unit(unit: str) -> str:
    """The canonical name of an area unit (case and spacing tolerant), or a clear error listing the choices."""
    key = _key(unit)
    if key in _LOOKUP:
        return _LOOKUP[key]
    if key.replace(" ", "") in _LOOKUP:
        return _LOOKUP[key.replace(" ", "")]
    raise InputError(f"unknown area unit {unit!r}", "area_unit",
                     f"use one of {', '.join(M2_PER_UNIT)} (also spelt e.g. 'hectares', '1000 hectares', 'km²', 'sq km', "
                     "'10000 mu' / '万亩'); a unit whose size varies by region or era (bigha, dunam, ...) is not accepted: "
                     "convert the column to one of these")


def to_m2(value, unit: str):
    """Convert areas (scalar or array) from `unit` to square metres."""
    return value * M2_PER_UNIT[normalise_area_unit(unit)]


def from_m2(value, unit: str):
    """Convert areas (scalar or array) from square metres to `unit`."""
    return value / M2_PER_UNIT[normalise_area_unit(unit)]


# ---- units named in table text (a column header, a units row, a per-row unit cell) ---------------------------------
_TOKEN = re.compile(r"[a-z0-9^']+|[\u4e00-\u9fff]+")
_CJK_ALIASES = sorted((a for a in _LOOKUP if re.fullmatch(r"[\u4e00-\u9fff]+", a)), key=len, reverse=True)
_STATED = re.compile(r"^(?:unit|units|unit of area|area unit|单位|计量单位)\s*[:：]?\s*|^in\s+", re.IGNORECASE)
_GROUP = re.compile(r"[(（\[]([^()（）\[\]]*)[)）\]]")


def units_named(text) -> list[str]:
    """The canonical area units (keys of M2_PER_UNIT) that a column header names, in order of appearance, each
    once: "Irrigated area (1000 acres)" -> ["1000acres"], "irrigated_area_ha" -> ["ha"], "有效灌溉面积(万亩)" ->
    ["10000mu"], "Net Area Irrigated / Total" -> []. The header is split into words (letters and digits; a run of
    Chinese characters is one word, read by the unit it ends with) and runs of up to three words are matched against
    the spellings of `normalise_area_unit` (longest first: "1000 acres" is one unit, not "acres"). Words that name
    no unit ("area", "irrigated", "total") are skipped."""
    words = _TOKEN.findall(_key(text))
    found, i = [], 0
    while i < len(words):
        for n in (3, 2, 1):
            if i + n > len(words):
                continue
            phrase = " ".join(words[i:i + n])
            unit = _LOOKUP.get(phrase) or _LOOKUP.get(phrase.replace(" ", ""))
            if unit is None and n == 1:
                unit = next((_LOOKUP[a] for a in _CJK_ALIASES if phrase.endswith(a)), None)
            if unit:
                found.append(unit)
                i += n
                break
        else:
            i += 1
    return list(dict.fromkeys(found))


def unit_stated(text) -> str | None:
    """The area unit a units row above a table's header states, or None: the row (or a bracketed part of it) must
    be a unit and nothing else, optionally after "in", "unit:" or "单位：" ("(In Hectares)", "Unit: 1000 ha",
    "单位：万亩", "Area irrigated, 2015 ('000 ha)"), so that a title or a citation naming no unit is never read
    as one. None when the row states no unit or several different ones."""
    parts = [str(text), *_GROUP.findall(str(text)), *str(text).split("|")]
    units = set()
    for part in parts:
        part = _STATED.sub("", part.strip().strip("()（）[]").strip())
        if part and (unit := _LOOKUP.get(_key(part)) or _LOOKUP.get(_key(part).replace(" ", ""))):
            units.add(unit)
    return units.pop() if len(units) == 1 else None
