import numpy as np
import pytest

from tinycompress.codegen import cgen


def test_literal_wraps_and_formats_int32_min():
    # 3 per line: "1, 2, 3" / "-4, (-2147483647 - 1)"
    text = cgen.literal(np.array([1, 2, 3, -4, -(2**31)], np.int32), per_line=3, indent="")
    assert text == "1, 2, 3,\n-4, (-2147483647 - 1)"


def test_literal_rejects_floats():
    with pytest.raises(ValueError):
        cgen.literal(np.array([0.5]))


@pytest.mark.parametrize("dtype,name", [(np.int8, "int8_t"), (np.uint16, "uint16_t"), (np.int32, "int32_t")])
def test_ctype(dtype, name):
    assert cgen.ctype(dtype) == name


def test_identifier_sanitizes_and_avoids_reserved_and_duplicates():
    taken: set[str] = set()
    assert cgen.identifier("conv2d/1:0", taken) == "conv2d_1_0"
    assert cgen.identifier("conv2d 1 0", taken) == "conv2d_1_0_1"  # collides with the first
    assert cgen.identifier("int", taken) == "int_1"  # C keyword
    assert cgen.identifier("2dense", taken) == "t_2dense"  # leading digit
    assert cgen.identifier("__x__", taken) == "x"  # C reserves leading underscores
