"""[models].cv_blocks as a user writes it in TOML, which has no null: the README's "none to skip" is written
"none" (or 0), which skips the cross-validation (fit_from_pool's cv_blocks=None); a negative block size and a
boolean are refused naming the key and what it accepts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from irrmap.core.config import ModelsSection


def _load(value):
    return ModelsSection.model_validate({"cv_blocks": value}).cv_blocks


@pytest.mark.parametrize("value, expected", [("none", None), ("None", None), ("off", None), (0, None),
                                             (40, 40), ("units", "units")])
def test_cv_blocks_values(value, expected):
    assert _load(value) == expected


@pytest.mark.parametrize("value", [-5, True])
def test_cv_blocks_refused_naming_the_skip_value(value):
    with pytest.raises(ValidationError) as e:
        _load(value)
    assert "'none'" in str(e.value)
