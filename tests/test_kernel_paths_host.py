"""Host tier: the fast paths of add, the pools and the dense depthwise kernel, exactly.

Every case of tests/kernel_cases.py (all 256 x 256 add input pairs for six scale
settings, pools and depthwise layers of many shapes, widths and clamps) runs
through the dispatcher compiled with the host cc and strict flags, i.e. the
plain C paths the Cortex-M3 also takes (the DSP paths run in QEMU in
tests/test_kernel_speed.py), and must equal the numpy integer reference byte
for byte.
"""
from __future__ import annotations

import ctypes as C

import numpy as np
import pytest

from tests import kernel_cases as kc
from tests.cbuild import RUNTIME, build_shared

pytestmark = pytest.mark.host
CASES = kc.all_cases()


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    src = tmp_path_factory.mktemp("dispatch") / "tc_case_run.c"
    src.write_text(kc.DISPATCH_C, encoding="utf-8")
    lib = build_shared([src, *[RUNTIME / "src" / name for name in kc.KERNEL_SOURCES]])
    lib.tc_case_run.restype = C.c_int32
    return lib


def run_case(lib, case: kc.Case) -> np.ndarray:
    ints = np.ascontiguousarray(case.ints, np.int32)
    data = np.frombuffer(case.data, np.int8).copy() if case.data else np.zeros(1, np.int8)
    out = np.full(max(case.expected.size, 1), 99, np.int8)
    status = lib.tc_case_run(ints.ctypes.data_as(C.POINTER(C.c_int32)),
                             data.ctypes.data_as(C.POINTER(C.c_int8)),
                             out.ctypes.data_as(C.POINTER(C.c_int8)))
    assert status == 0, f"{case.name}: status {status}"
    return out[:case.expected.size]


def assert_case(case: kc.Case, got: np.ndarray) -> None:
    bad = np.flatnonzero(got != case.expected)
    if bad.size:
        i = int(bad[0])
        raise AssertionError(f"{case.name}: {bad.size} of {got.size} differ; first at {i}: "
                             f"expected {int(case.expected[i])}, got {int(got[i])}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_matches_reference(lib, case):
    assert_case(case, run_case(lib, case))


def test_cases_reach_every_path():
    # The short paths and their fallbacks each have cases (see kernel_cases' docstring).
    groups = {c.group for c in CASES}
    assert {"add", "add slow", "pool 2x2", "pool", "global pool", "dw 3x3 s1", "dw 3x3 s2",
            "dw"} <= groups
    assert sum(c.expected.size == 65_536 for c in CASES if c.kernel == kc.ADD) == len(kc.ADD_SCALES)
