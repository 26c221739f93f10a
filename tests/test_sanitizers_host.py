"""Host tier under AddressSanitizer and UndefinedBehaviorSanitizer.

The host kernel tests (every weight kernel: dense, csr, cer, cser, pcsr for fc,
conv2d and depthwise on hypothesis and seeded random matrices, 2..8 bits; the dense
engine's DSP loop, emulated; every other kernel; the masked variants; the edge
matrices below) run once more in a child
pytest whose `build_shared` compiles with `-fsanitize=address,undefined
-fno-sanitize-recover=all` (tests/cbuild.py, `sanitized_env`): the first
out-of-bounds access, use of freed memory, signed overflow, bad shift or misaligned
load in a kernel aborts the child, and the comparison with the numpy reference
stays exact. A canary shows that such a child really catches a read one past a
numpy buffer and a signed overflow.

The edge matrices (empty first, middle and last rows; all zero; a single column;
a single row; one entry at the far end) run in every layout and bit width here
too, with the strict unsanitized build.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.cbuild import REPO, sanitized_env
from tests.test_weight_kernels_host import check_conv, check_fc, lib, make_params  # noqa: F401

pytestmark = pytest.mark.host
HERE = Path(__file__).relative_to(REPO).as_posix()
# Every host test of a C kernel; -k leaves out the cross-compiles (arm-none-eabi-gcc,
# no host C) and this file's own child-process tests.
SANITIZED_FILES = ["tests/test_weight_kernels_host.py", "tests/test_int_ops_host.py",
                   "tests/test_kernel_variants.py", "tests/test_pcsr.py",
                   "tests/test_dense_engine_host.py", HERE]
NOT_IN_CHILD = "not cross_compile and not fraction_of_all and not clean_under and not catches_what"


def edge_matrices(rng, bits: int) -> dict[str, np.ndarray]:
    """name -> level matrix (rows x columns) of the shapes sparse formats get wrong."""
    hi = (1 << (bits - 1)) - 1
    levels = lambda shape: rng.integers(-hi, hi + 1, shape)  # noqa: E731
    empty_rows = levels((6, 9))
    empty_rows[[0, 2, 5]] = 0
    far = np.zeros((3, 40), np.int64)
    far[2, 39] = hi
    single_column = levels((5, 1))
    single_column[1] = 0
    return {"empty_rows": empty_rows, "all_zero": np.zeros((4, 7), np.int64),
            "single_column": single_column, "single_row": levels((1, 13)), "far_entry": far}


@pytest.mark.parametrize("bits", range(2, 9))
def test_edge_matrices_every_layout(lib, bits):  # noqa: F811
    rng = np.random.default_rng(bits)
    for name, levels in edge_matrices(rng, bits).items():
        cols = levels.shape[1]
        x = rng.integers(-128, 128, cols).astype(np.int8)
        check_fc(lib, bits, levels, x, make_params(rng, levels), f" {name}")
    # conv2d: 1x1 kernel on one channel (a single column) and 3x3 on one channel with
    # empty output channels; depthwise: 1x1 (single column) and 3x3 with empty channels
    edge = edge_matrices(rng, bits)
    for depthwise in (False, True):
        for k, levels in (((1, 1), edge["single_column"]), ((3, 3), edge["empty_rows"])):
            cin = levels.shape[0] if depthwise else 1
            x = rng.integers(-128, 128, (5, 4, cin)).astype(np.int8)
            check_conv(lib, depthwise, bits, k, (1, 2), x, levels, make_params(rng, levels))


def test_kernels_clean_under_sanitizers():
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
           "-k", NOT_IN_CHILD, *SANITIZED_FILES]
    proc = subprocess.run(cmd, cwd=REPO, env=sanitized_env(), capture_output=True, text=True,
                          timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"host kernel tests under ASan/UBSan:\n{output[-8000:]}"
    passed = re.search(r"(\d+) passed", output)  # a -k gone wrong would select far fewer
    assert passed and int(passed.group(1)) >= 100, output[-2000:]
    assert not re.search(r"\d+ (failed|skipped|errors?)\b", output), output[-2000:]


CANARY = r"""
#include <stdint.h>

int32_t tc_canary_sum(const int8_t *x, int32_t n)
{
    int32_t s = 0;
    for (int32_t i = 0; i <= n; ++i) { /* x[0..n]: n = size reads one past the end */
        s += x[i];
    }
    return s;
}

int32_t tc_canary_add(int32_t a, int32_t b)
{
    return a + b;
}
"""
# call -> what the sanitized child must print: the sum when in bounds, else the sanitizer's report
CANARY_CALLS = {
    "in_bounds": ("lib.tc_canary_sum(ptr(x), x.size - 1)", "78"),  # 0 + 1 + ... + 12
    "one_past": ("lib.tc_canary_sum(ptr(x), x.size)", "AddressSanitizer: heap-buffer-overflow"),
    "overflow": ("lib.tc_canary_add(2**31 - 1, 1)", "runtime error: signed integer overflow"),
}


@pytest.mark.parametrize("case", list(CANARY_CALLS))
def test_sanitized_child_catches_what_it_should(tmp_path, case):
    (tmp_path / "canary.c").write_text(CANARY)
    call, expected = CANARY_CALLS[case]
    script = ("import numpy as np; from pathlib import Path; from tests.cbuild import build_shared, ptr; "
              f"lib = build_shared([Path({str(tmp_path / 'canary.c')!r})]); "
              f"x = np.arange(13, dtype=np.int8); print({call})")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=sanitized_env(),
                          capture_output=True, text=True, timeout=120)
    if case == "in_bounds":
        assert proc.returncode == 0 and proc.stdout.strip() == expected, proc.stderr
    else:
        assert proc.returncode != 0 and expected in proc.stderr, proc.stderr
