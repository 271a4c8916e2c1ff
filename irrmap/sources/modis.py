"""MODIS product decoding: the scale, fill values and valid ranges of MOD13Q1 and MOD09, and the MOD13Q1
VI_Quality bit fields. The one place irrmap knows these numbers; every reader of a MODIS product goes
through them.

Sources: MOD13 C6.1 User's Guide (Didan et al. 2019), table 3 (scale 0.0001, fill -3000, valid range
-2000..10000) and table 5 (VI_Quality bits); MOD09 C6.1 User's Guide (Vermote et al. 2015), section 4
(scale 0.0001, fill -28672, valid range -100..16000).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import dask.array as da
import numpy as np

from irrmap.core.errors import ConfigError

# Decoding of MOD13Q1 EVI/NDVI as distributed: int16 x 1e-4, fill -3000 (HDF/GeoTIFF) or 65531 (some uint16
# distributions), valid range -2000..10000 on raw values (this also drops lossy-JPEG2000 halos of the fill).
# `signed`: the SDS is int16 (guide, table 3), so a copy stored as uint16 (JPEG2000 exports) holds negative
# indices as 65536 + value (-170 -> 65366); they are read back as the negatives they are.
MOD13Q1_VI = {"scale": 1e-4, "fill_values": (-3000, 65531), "valid_range": (-2000, 10000), "signed": True}
# MOD09 surface reflectance bands: x 1e-4, fill -28672, valid range -100..16000.
MOD09_REFLECTANCE = {"scale": 1e-4, "fill_values": (-28672,), "valid_range": (-100, 16000)}
PRESETS = {"mod13q1": MOD13Q1_VI, "mod09": MOD09_REFLECTANCE, "none": {}}


@dataclass(frozen=True)
class QARule:
    """Which MOD13Q1 VI_Quality bit fields accept a pixel (bit 0 = least significant).

    bits 0-1 MODLAND_QA (0 good, 1 check other QA, 2 probably cloudy, 3 not produced); bits 2-5 VI usefulness
    (0 highest .. 12 lowest, 13 not useful, 14 L1B faulty, 15 not useful/not processed); bit 8 adjacent cloud;
    bit 10 mixed clouds; bits 11-13 land/water; bit 14 possible snow/ice; bit 15 possible shadow.
    METHOD.md only says "QA-masked": these defaults (MODLAND 0 or 1, usefulness <= 12, no mixed clouds,
    snow/ice or shadow; adjacent clouds and water flags allowed) are *open* and configurable.
    """

    modland: tuple[int, ...] = (0, 1)
    max_usefulness: int = 12
    reject_adjacent_cloud: bool = False
    reject_mixed_clouds: bool = True
    reject_snow: bool = True
    reject_shadow: bool = True
    land_water: tuple[int, ...] | None = None  # accepted land/water classes; None = any
    fill: int = 65535

    def bit_tests(self) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
        """The rule as (shift, mask, accepted values) tests: a word passes when (word >> shift) & mask is one of
        the accepted values in every test and the word is not `fill`. The one statement of the bit layout, used
        by accept() and by the Earth Engine graphs (irrmap.sources.ee.graphs)."""
        tests = [(0, 3, tuple(self.modland)), (2, 15, tuple(range(max(self.max_usefulness + 1, 0))))]
        for reject, shift in ((self.reject_adjacent_cloud, 8), (self.reject_mixed_clouds, 10)):
            if reject:
                tests.append((shift, 1, (0,)))
        if self.land_water is not None:
            tests.append((11, 7, tuple(self.land_water)))
        for reject, shift in ((self.reject_snow, 14), (self.reject_shadow, 15)):
            if reject:
                tests.append((shift, 1, (0,)))
        return tuple(tests)

    def accept(self, qa):
        """Boolean array of the shape of `qa`: True where the quality word passes every rule (numpy or dask).
        Words of 16 bits or less (the VI_Quality SDS is uint16) are looked up in a table of every word's
        verdict, built once per rule by the same bit tests; wider values go through the tests directly."""
        if isinstance(qa, da.Array):
            return qa.map_blocks(self._accept_block, dtype=bool)
        return self._accept_block(np.asarray(qa))

    def _accept_block(self, q: np.ndarray) -> np.ndarray:
        if q.dtype.kind in "ui" and q.size:
            table = _verdicts(self)
            if q.dtype.kind == "u" and (q.dtype.itemsize <= 2 or int(q.max()) <= 0xFFFF):
                return table[-_LOWEST:][q]
            if q.dtype.kind == "i" and (q.dtype.itemsize <= 2 or (int(q.min()) >= _LOWEST and int(q.max()) <= 0xFFFF)):
                return table[q.astype(np.int64) - _LOWEST]
        return self._tests(q.astype(np.int64))

    def _tests(self, q: np.ndarray) -> np.ndarray:
        ok = q != self.fill
        for shift, mask, values in self.bit_tests():
            ok &= np.isin((q >> shift) & mask, list(values))
        return ok


_LOWEST = -(1 << 15)  # the verdict table covers every int16 and uint16 word


@functools.lru_cache(maxsize=16)
def _verdicts(rule: QARule) -> np.ndarray:
    """rule's verdict for every word from -32768 to 65535 (index = word + 32768)."""
    return rule._tests(np.arange(_LOWEST, 1 << 16, dtype=np.int64))


def qa_rule_from(section: dict | None) -> QARule | None:
    """A QARule from a config table (keys = QARule fields); None or {"enabled": false} = no QA masking."""
    if section is None:
        return QARule()
    section = dict(section)
    if not section.pop("enabled", True):
        return None
    fields = set(QARule.__dataclass_fields__)
    bad = set(section) - fields
    if bad:
        raise ConfigError(f"unknown QA key(s) {sorted(bad)}", "features.qa", f"use {sorted(fields)}")
    for key in ("modland", "land_water"):
        if section.get(key) is not None:
            section[key] = tuple(int(v) for v in section[key])
    return QARule(**section)
