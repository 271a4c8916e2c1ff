"""Stratum names equal after Unicode NFC are one stratum: points whose stratum field holds an accent as two code points
(NFD, as macOS and some GIS exports write it) match stratum sizes typed with one (NFC, --stratum-size), and the
design-based estimates are those of the all-NFC sample (hand-computed: equal weights N_h / n_h within strata)."""

import unicodedata

import pandas as pd
import pytest
from irrmap.evaluation.design import SampleDesign, design_accuracy, stratum_sizes

NFC_A, NFC_B = "Sheridán", "Bùffer"
NFD = {n: unicodedata.normalize("NFD", n) for n in (NFC_A, NFC_B)}


def _samples(names):
    # stratum A: 4 points (3 agree), stratum B: 2 points (both agree)
    rows = [(names[NFC_A], 1, 1), (names[NFC_A], 1, 1), (names[NFC_A], 1, 0), (names[NFC_A], 0, 0),
            (names[NFC_B], 0, 0), (names[NFC_B], 0, 0)]
    return pd.DataFrame(rows, columns=["stratum", "map", "reference"])


def test_nfd_points_match_nfc_sizes():
    assert NFD[NFC_A] != NFC_A  # the two encodings differ as text
    design = SampleDesign("stratum", stratum_sizes={NFC_A: 60.0, NFC_B: 40.0})
    sizes = stratum_sizes(_samples(NFD), design)
    assert dict(sizes) == {NFC_A: 60.0, NFC_B: 40.0}


def test_nfd_design_accuracy_equals_nfc():
    design = SampleDesign("stratum", stratum_sizes={NFC_A: 60.0, NFC_B: 40.0})
    nfd = design_accuracy(_samples(NFD), design)
    nfc = design_accuracy(_samples({NFC_A: NFC_A, NFC_B: NFC_B}), design)
    # by hand: OA = (60 * 3/4 + 40 * 2/2) / 100 = 0.85
    assert nfc.estimate.overall_accuracy == pytest.approx(0.85)
    assert nfd.estimate.overall_accuracy == pytest.approx(0.85)


def test_nfd_sizes_typed_match_nfc_points():
    design = SampleDesign("stratum", stratum_sizes={NFD[NFC_A]: 60.0, f" {NFD[NFC_B]} ": 40.0})
    sizes = stratum_sizes(_samples({NFC_A: NFC_A, NFC_B: NFC_B}), design)
    assert dict(sizes) == {NFC_A: 60.0, NFC_B: 40.0}


def test_control_ascii_names_unchanged():
    design = SampleDesign("stratum", stratum_sizes={"arid": 60.0, "humid": 40.0})
    s = _samples({NFC_A: "arid", NFC_B: "humid"})
    assert dict(stratum_sizes(s, design)) == {"arid": 60.0, "humid": 40.0}
