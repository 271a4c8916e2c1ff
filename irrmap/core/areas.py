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
    # appended (the order above is the one messages list): the multiplied units of yearbook headers, 万公顷 and 千亩
    "10000ha": 1.0e8,  # 10,000 ha: 1 ha = 1 hm2 = 1e4 m2 (SI Brochure, 9th ed., Table 8)
    "1000mu": 1000.0 * MU_M2,
}

# the --area-unit help of every command that reads a statistics table (one list: the units M2_PER_UNIT knows)
AREA_UNITS_HELP = "m2, ha, 1000ha, km2, mu, 10000mu (万亩), acres, 1000acres, 10000ha (万公顷), 1000mu (千亩)"

_ALIASES = {  # spellings after _key (lower case, one space, "²" -> "2", "sq." -> "sq", "10,000" -> "10000")
    "m2": ("m2", "m^2", "sqm", "sq m", "square metres", "square meters", "square metre", "square meter"),
    "ha": ("ha", "hectare", "hectares", "hectárea", "hectáreas", "公顷"),
    "1000ha": ("1000ha", "1000 ha", "1000 hectares", "1000 hectare", "kha", "thousand ha", "thousand hectares", "10^3 ha",
               "10^3 hectares", "'000 ha", "千公顷"),
    "km2": ("km2", "km^2", "sq km", "sqkm", "square km", "square kilometres", "square kilometers", "square kilometre",
            "square kilometer", "平方公里", "平方千米"),
    "mu": ("mu", "亩"),
    "10000mu": ("10000mu", "10000 mu", "10k mu", "10^4 mu", "ten thousand mu", "wan mu", "万亩"),
    "10000ha": ("10000ha", "10000 ha", "10000 hectares", "10^4 ha", "万公顷"),
    "1000mu": ("1000mu", "1000 mu", "thousand mu", "10^3 mu", "千亩"),
    "acres": ("acres", "acre", "ac"),
    "1000acres": ("1000acres", "1000 acres", "thousand acres", "kac", "1000 acre", "10^3 acres", "'000 acres"),
}
_LOOKUP = {alias: unit for unit, aliases in _ALIASES.items() for alias in aliases}


_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


def _key(unit) -> str:
    """A spelling of an area unit in the form of the _ALIASES: lower case, spaces collapsed, a power of ten in
    superscript as ^ ("10³" -> "10^3"), any other superscript ² as 2, "×" as "x", the curly apostrophe as "'", the
    French elision "d'" as "de" ("milliers d'hectares"), "sq." as "sq", the thousands separators of a number dropped
    ("10,000 mu" -> "10000 mu")."""
    key = " ".join(str(unit).strip().lower().replace("×", "x").replace("\u2019", "'").split())
    key = re.sub(r"10([⁰¹²³⁴⁵⁶⁷⁸⁹]+)", lambda m: "10^" + m.group(1).translate(_SUPERSCRIPT), key)
    key = key.replace("²", "2")
    key = re.sub(r"\bd'(?=[^\W\d_])", "de ", key)
    key = re.sub(r"\bsq\.\s*", "sq ", key)
    return re.sub(r"(?<=\d)[,\u2009\u202f](?=\d{3}(?!\d))", "", key)


def normalise_area_unit(unit: str) -> str:
    """The canonical name of an area unit (case and spacing tolerant), or a clear error listing the choices."""
    key = _key(unit)
    if key in _LOOKUP:
        return _LOOKUP[key]
    if key.replace(" ", "") in _LOOKUP:
        return _LOOKUP[key.replace(" ", "")]
    if scaled := scaled_unit(key):  # "thousands of acres", "Tsd. ha", "x1000 ha", "acres x 1000"
        return scaled
    raise InputError(f"unknown area unit {unit!r}", "area_unit",
                     f"use one of {', '.join(M2_PER_UNIT)} (also spelt e.g. 'hectares', '1000 hectares', 'km²', 'sq km', "
                     "'10000 mu' / '万亩', 'thousands of acres', 'Tsd. ha', '千亩'); a unit whose size varies by region or era (bigha, "
                     "dunam, ...) or a multiple irrmap has no unit for (million ha, lakh ha) is not accepted: convert the column "
                     "to one of these")


def to_m2(value, unit: str):
    """Convert areas (scalar or array) from `unit` to square metres."""
    return value * M2_PER_UNIT[normalise_area_unit(unit)]


def from_m2(value, unit: str):
    """Convert areas (scalar or array) from square metres to `unit`."""
    return value / M2_PER_UNIT[normalise_area_unit(unit)]


# ---- units named in table text (a column header, a units row, a per-row unit cell) ---------------------------------
# words: runs of letters (any script but Chinese), digits, ^ and ' ("10^3", "1000's"); a run of Chinese characters
_TOKEN = re.compile(r"(?:[^\W_\u4e00-\u9fff]|[\^'])+|[\u4e00-\u9fff]+")
_STATED = re.compile(r"^(?:unit|units|unit of area|area unit|单位|计量单位)\s*[:：]?\s*|^in\s+", re.IGNORECASE)
_GROUP = re.compile(r"[(（\[]([^()（）\[\]]*)[)）\]]")
# Multipliers of a unit in a header ("thousands of acres", "'000 ha", "Tsd. ha", "acres x 1000", 千亩, 万公顷): words
# (English thousand/th./thous., German Tsd./Tausend/Mio., Portuguese mil "Em mil ha" and milhões (CONAB, IBGE), Spanish
# "miles de" and millones, French milliers/mille, million/mln/bn, Indian lakh 1e5 and crore 1e7), powers of ten (1000,
# x1000, 000, '000, 000s, 1000s, 1000's, 10^3 and 10³, 1e3, E3) and Chinese numerals (千 1e3, 万 1e4, 十万 1e5, 百万 1e6);
# "k" only right before a unit ("k ha"), "miles" only before "de" ("miles de ha"; else the English mile).
_MULT_WORDS = {"thousand": 1e3, "thousands": 1e3, "th": 1e3, "thou": 1e3, "thous": 1e3, "tsd": 1e3, "tausend": 1e3,
               "mil": 1e3, "milliers": 1e3, "millier": 1e3, "mille": 1e3,
               "million": 1e6, "millions": 1e6, "mio": 1e6, "mln": 1e6, "mill": 1e6, "millones": 1e6, "milhões": 1e6,
               "milhoes": 1e6, "billion": 1e9, "billions": 1e9, "bn": 1e9, "mrd": 1e9, "milliard": 1e9, "milliards": 1e9,
               "hundred": 1e2, "hundreds": 1e2, "lakh": 1e5, "lakhs": 1e5, "lac": 1e5, "lacs": 1e5, "crore": 1e7, "crores": 1e7}
_OF_ONLY = {"miles": 1e3}  # multipliers only when "de"/"of" follows
_OF = ("of", "de")  # "thousands of acres", "miles de hectáreas", "milliers d'hectares"
_MULT_NUMBER = re.compile(r"x?(?:1(0{2,})|'?(000)|10\^(\d+)|1?e(\d+))(?:'?s)?")
_NUMBER_LIKE = re.compile(r"x?'?\d[\d^'e]*s?")  # a token a number starts: "5000", "10^5", "x100", "1e+3" (read: "1e")
_YEAR = re.compile(r"(?:1[89]|20)\d\d")
_CJK_MULT = {"百万": 1e6, "十万": 1e5, "万": 1e4, "千": 1e3, "百": 1e2}
_CJK_BASE = {"平方公里": "km2", "平方千米": "km2", "平方米": "m2", "公顷": "ha", "亩": "mu"}  # longest first
_BASES = ("m2", "ha", "km2", "mu", "acres")  # the units a multiplier scales (the others are multiples already)
_CONNECTORS = ("of", "x", "in")  # "thousands of acres", "acres x 1000", "(acres) in thousands"


def _multiplier(word: str, after: str | None = None) -> float | None:
    """The factor a header word multiplies a unit by ("thousands" 1e3, "x1000" 1e3, "'000" 1e3, "1000s" 1e3, "10^3"
    1e3, "e3" 1e3, 万 1e4), or None; `after` is the next word ("miles" is 1e3 only before "de")."""
    if word in _MULT_WORDS or word in _CJK_MULT:
        return _MULT_WORDS.get(word) or _CJK_MULT[word]
    if word in _OF_ONLY:
        return _OF_ONLY[word] if after in _OF else None
    m = _MULT_NUMBER.fullmatch(word)
    if not m:
        return None
    ten, zeros, power, exp = m.groups()
    return 10.0 ** (len(ten) if ten else 3 if zeros else int(power or exp))


def _number_like(words: list[str], k: int) -> bool:
    """Whether words[k] is a number (or the start of one) that is not a year ("2015") nor the end of a span of years
    ("2015-16", "2010/2015")."""
    w = words[k]
    if not _NUMBER_LIKE.fullmatch(w) or _YEAR.fullmatch(w):
        return False
    return not (k > 0 and _YEAR.fullmatch(words[k - 1]) and len(w) in (2, 4) and w.isdigit())


def _scaled(factor: float, base: str) -> str | None:
    """The unit `factor` x `base` (a key of M2_PER_UNIT: 1e3 x "acres" -> "1000acres"), None when irrmap has none."""
    name = f"{factor:.0f}{base}"
    return name if name in M2_PER_UNIT else None


def _unit_at(words: list[str], i: int) -> tuple[str, int, float] | None:
    """(unit, number of words, factor of a Chinese multiplier inside the word) of the unit starting at words[i]."""
    if re.fullmatch(r"[\u4e00-\u9fff]+", words[i]):  # a run of Chinese characters: read by the unit it ends with
        base = next((b for b in _CJK_BASE if words[i].endswith(b)), None)
        if base is None:
            return None
        head = words[i][:-len(base)]
        factor = next((f for m, f in _CJK_MULT.items() if head.endswith(m)), 1.0)
        return _CJK_BASE[base], 1, factor
    for n in (3, 2, 1):
        phrase = " ".join(words[i:i + n])
        unit = (_LOOKUP.get(phrase) or _LOOKUP.get(phrase.replace(" ", ""))) if i + n <= len(words) else None
        if unit:
            return unit, n, 1.0
    return None


def _adjacent_multiplier(words: list[str], used: list[bool], i: int, n: int) -> tuple[float, list[int]] | None:
    """The multiplier right before words[i:i+n] ("thousands of", "x1000", "ten thousand", "k", "miles de") or else
    right after it ("x 1000", "_1000", "in thousands", ", 000s"), and the positions of its words."""
    j = i - 1 - (i >= 2 and words[i - 1] in _OF)
    if j >= 0 and not used[j] and (words[j] == "k" or _multiplier(words[j], words[j + 1])):
        if words[j] in ("thousand", "thousands") and j >= 1 and words[j - 1] == "ten":
            return 1e4, [j - 1, j, *range(j + 1, i)]
        return (1e3 if words[j] == "k" else _multiplier(words[j], words[j + 1])), list(range(j, i))
    j = i + n
    while j < len(words) and words[j] in _CONNECTORS:
        j += 1
    if j < len(words) and not used[j] and _multiplier(words[j]):
        return _multiplier(words[j]), list(range(i + n, j + 1))
    return None


def _next_to(words: list[str], k: int, units: set[int]) -> bool:
    """Whether words[k] stands next to a word of a unit (positions `units`), over "of", "de", "x", "in"."""
    for step in (-1, 1):
        j = k + step
        while 0 <= j < len(words) and (words[j] in _CONNECTORS or words[j] in _OF):
            j += step
        if j in units:
            return True
    return False


def read_units(text) -> tuple[list[str], list[str], list[str]]:
    """What a header says of its unit: (units, unread, rest). `units`: the canonical units (keys of M2_PER_UNIT) it names,
    in order, each once, a multiplier next to a unit scaling it ("thousands of acres" -> "1000acres"); `unread`: the
    phrases naming a unit irrmap has not ("million ha", "lakh ha", "百万亩"), multipliers next to no unit
    ("(acres), values x 1000" -> "1000") and numbers next to a unit that are not a multiplier irrmap reads ("5000 ha",
    "10^5 ha"; a year such as "2015 (ha)" or "2015-16 (ha)" is not one); `rest`: the words that are neither."""
    words = _TOKEN.findall(_key(text))
    used = [False] * len(words)
    units, unread, at, i = [], [], set(), 0
    while i < len(words):
        hit = _unit_at(words, i) if not used[i] else None
        if hit is None:
            i += 1
            continue
        unit, n, factor = hit
        near = _adjacent_multiplier(words, used, i, n) if factor == 1.0 and unit in _BASES else None
        span = range(i, i + n)
        at.update(span)
        if near:
            factor, more = near
            span = sorted({*span, *more})
        for k in span:
            used[k] = True
        if factor != 1.0:
            scaled = _scaled(factor, unit) if unit in _BASES else None
            if scaled:
                units.append(scaled)
            else:
                unread.append(" ".join(words[k] for k in span))
        else:
            units.append(unit)
        i = max(span) + 1
    for k, w in enumerate(words):
        after = words[k + 1] if k + 1 < len(words) else None
        mult = w != "k" and _multiplier(w, after) and (not w.startswith("e") or _next_to(words, k, at))  # "e3": a code
        if not used[k] and (mult or (_number_like(words, k) and _next_to(words, k, at))):
            unread.append(w)
            used[k] = True
    return list(dict.fromkeys(units)), unread, [w for k, w in enumerate(words) if not used[k]]


def units_named(text) -> list[str]:
    """The canonical area units (keys of M2_PER_UNIT) that a column header names, in order of appearance, each
    once: "Irrigated area (1000 acres)" -> ["1000acres"], "Irrigated land (thousands of acres)" -> ["1000acres"],
    "irrigated_area_ha" -> ["ha"], "area_ha_1000" -> ["1000ha"], "Fläche (Tsd. ha)" -> ["1000ha"], "有效灌溉面积(千亩)"
    -> ["1000mu"], "灌溉面积（万公顷）" -> ["10000ha"], "Net Area Irrigated / Total" -> []. The header is split into
    words (letters and digits; a run of Chinese characters is one word, read by the unit it ends with and the numeral
    before it) and runs of up to three words are matched against the spellings of `normalise_area_unit` (longest
    first: "1000 acres" is one unit, not "acres"); a multiplier right before or after a unit scales it (`read_units`).
    Words that name no unit ("area", "irrigated", "total") are skipped. A header with a multiplier that makes no unit
    irrmap knows ("million ha", "mln ha", "lakh ha"), that stands apart from its unit, or a number next to a unit that is
    no multiplier irrmap reads ("5000 ha"; not a year: "Area 2015 (ha)" -> ["ha"]) names none: [] (its unit is then the
    area_unit given, with a warning, never the unmultiplied unit, which would read every area 1000x too small)."""
    units, unread, _ = read_units(text)
    return [] if unread else units


def scaled_unit(text) -> str | None:
    """The unit a text that is nothing but a multiplied unit names ("thousands of acres", "Tsd. ha", "x1000 ha",
    "acres x 1000", "千亩"), or None. A division ("hectares/1000") reads two ways and is None."""
    if "/" in str(text):
        return None
    units, unread, rest = read_units(text)
    return units[0] if len(units) == 1 and not unread and all(w in _CONNECTORS for w in rest) else None


# a unit statement inside a line of text ("... 单位：万亩", "..., unit: 1000 ha", "... in 1000 ha"): the marker (English words
# standing as words; Chinese anywhere, as Chinese has no spaces) and what follows, up to a ";", a "，" or a "," that is no
# thousands separator ("10,000 mu")
_MARKER = re.compile(r"(?:(?<![^\W_])(?:unit of area|area units?|units?)(?![^\W_])\s*[:：]?|计量单位|計量單位|单位|單位)\s*[:：]?\s*"
                     r"|(?<![^\W_])in\s+", re.IGNORECASE)
_CUT = re.compile(r"[;；，|。]|,(?!\d{3}(?!\d))")
_TRAIL = " \t.:：)）]】"


def _a_unit(part: str) -> str | None:
    """The unit `part` is and nothing else ("1000 ha", "万亩", "thousands of acres"), or None."""
    part = part.strip().strip(_TRAIL).strip("(（[【").strip()
    if not part:
        return None
    return _LOOKUP.get(_key(part)) or _LOOKUP.get(_key(part).replace(" ", "")) or scaled_unit(part)


def units_stated(text) -> list[str]:
    """The distinct area units (keys of M2_PER_UNIT, in order) a line above a table's header states: the line, a cell of
    it (cells joined by " | ") or a bracketed part of it that is a unit and nothing else, optionally after "in", "unit:"
    or "单位：" ("(In Hectares)", "Unit: 1000 ha", "单位：万亩", "(in thousands of acres)", "Area irrigated, 2015 ('000 ha)"),
    and a statement anywhere in the line: "单位："/"计量单位："/"unit:"/"units:"/"area unit:" or "in" followed by a unit
    and nothing more up to the end, a ";" or a "，" ("石家庄市各县有效灌溉面积 单位：万亩", "Irrigated area by county, unit: 1000
    ha", "Irrigated area by county in 1000 ha"). The unit must be all that follows, so that a title or a citation naming
    no unit ("Irrigated area in Hebei", "Units: counties") never counts. [] when the line states none; two or more
    when it states different ones ("Irrigated area (ha) unit: 1000 ha")."""
    text = str(text)
    found = []
    for part in [text, *_GROUP.findall(text), *text.split("|")]:
        part = part.strip().strip("()（）[]").strip()
        found.append(_a_unit(_STATED.sub("", part)))
        for m in _MARKER.finditer(part):
            found.append(_a_unit(_CUT.split(part[m.end():], maxsplit=1)[0]))
    return list(dict.fromkeys(u for u in found if u))


def unit_stated(text) -> str | None:
    """The one area unit a units row above a table's header states (`units_stated`), or None when it states no unit
    or several different ones."""
    units = units_stated(text)
    return units[0] if len(units) == 1 else None
