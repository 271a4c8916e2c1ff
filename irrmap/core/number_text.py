"""Whether a piece of text reads as a number, for messages and label parsing.

Used by the reference-label reader (``evaluation.labels``) and the Earth Engine
catalogue checks (``irrmap.sources.ee.catalog``), which both must tell "1" / "0.5" /
"-9999" / "nan" from words such as "yes" or "irrigated".
"""

from __future__ import annotations


def is_number(text) -> bool:
    """True when ``float(text)`` succeeds (Python's float syntax: "1", " 2.5 ", "1e3", "nan", "inf").

    ``text`` is any object; ``None`` and other non-numeric types give False instead of raising.
    """
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
