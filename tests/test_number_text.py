"""irrmap.core.number_text.is_number follows Python's float() syntax (the one rule both label reading and the EE
catalogue checks use)."""

import pytest

from irrmap.core.number_text import is_number


@pytest.mark.parametrize("text", ["1", "0", " 2.5 ", "-9999", "1e3", "nan", "inf", 3, 0.5])
def test_numbers(text):
    assert is_number(text)


@pytest.mark.parametrize("text", ["yes", "", " ", "1,5", "irrigated", None, [1], "0x10"])
def test_not_numbers(text):
    assert not is_number(text)
