"""Demo admin names: unique and finite for regions of thousands of units (a 64x demo drew forever once the
1,369 two-syllable names ran out), and unchanged for the demos that never got there."""

from __future__ import annotations

import numpy as np

from irrmap.app.demo.admin import _SYL, _names


def test_thousands_of_units_get_unique_names():
    used: set = set()
    names = _names(np.random.default_rng(0), 3000, used)  # more than 37^2 = 1,369
    assert len(set(names)) == 3000 and used == set(names)


def test_small_regions_keep_their_two_syllable_names():
    rng, ref = np.random.default_rng(5), np.random.default_rng(5)
    got = _names(rng, 400, set())
    want, seen = [], set()
    while len(want) < 400:  # the draw as it always was: two seeded syllables, skipping used names
        nm = (_SYL[ref.integers(len(_SYL))] + _SYL[ref.integers(len(_SYL))]).capitalize()
        if nm not in seen:
            seen.add(nm)
            want.append(nm)
    assert got == want
