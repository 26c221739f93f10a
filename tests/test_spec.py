"""Per-layer spec: parsing, validation, precedence, and the documented example."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tinycompress.errors import SpecError
from tinycompress.ir.graph import Graph, Node
from tinycompress.compress.spec import Defaults, LayerSpec, Spec, find_spec, load_spec, merge, parse_spec

DOC = Path(__file__).resolve().parents[1] / "docs" / "spec.md"


def small_graph() -> Graph:
    """input -> conv2d -> reshape -> dense_1 (weight layers: conv2d, dense_1)."""
    nodes = [
        Node("input_1", "input", [], [], (4, 4, 1)),
        Node("conv2d", "conv2d", ["input_1"], [(4, 4, 1)], (4, 4, 2),
             attrs={"strides": (1, 1), "padding": "same"},
             weights={"kernel": np.zeros((3, 3, 1, 2), np.float32), "bias": np.zeros(2, np.float32)}),
        Node("flatten", "reshape", ["conv2d"], [(4, 4, 2)], (32,)),
        Node("dense_1", "dense", ["flatten"], [(32,)], (3,),
             weights={"kernel": np.zeros((32, 3), np.float32), "bias": np.zeros(3, np.float32)}),
    ]
    return Graph("small", nodes, ["dense_1"])


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "tinycompress.toml"
    p.write_text(text)
    return p


def test_doc_example_parses_and_resolves():
    # The ```toml block of docs/spec.md is the example users copy: it must stay valid.
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    import tomllib
    spec = parse_spec(tomllib.loads(blocks[0]), "docs/spec.md")
    assert spec.defaults == Defaults(bits=4, sparsity=0.9, layout="auto", per_channel=True,
                                     optimize="balanced", quantizer="rd", lam=None)
    got = spec.resolve(small_graph())
    assert got == {"conv2d": LayerSpec(8, 0.5, "dense"), "dense_1": LayerSpec(4, 0.9, "cer")}


def test_defaults_without_file(tmp_path):
    assert find_spec(None, tmp_path) is None
    got = merge(None, None).resolve(small_graph())
    assert got == {"conv2d": LayerSpec(8, 0.0, "auto"), "dense_1": LayerSpec(8, 0.0, "auto")}


def test_file_found_in_cwd_and_layer_override(tmp_path):
    write(tmp_path, "[defaults]\nbits = 3\n[layers.dense_1]\nsparsity = 0.75\nlayout = 'cser'\n")
    spec = find_spec(None, tmp_path)
    assert spec.resolve(small_graph()) == {"conv2d": LayerSpec(3, 0.0, "auto"),
                                           "dense_1": LayerSpec(3, 0.75, "cser")}


def test_precedence_cli_over_file_over_defaults(tmp_path):
    p = write(tmp_path, "[defaults]\nbits = 3\nsparsity = 0.5\n"
                        "[layers.conv2d]\nbits = 6\nlayout = 'dense'\n")
    # --bits 5 beats both [defaults] bits=3 and [layers.conv2d] bits=6;
    # sparsity is not on the CLI so the file's 0.5 stays; layout of conv2d stays.
    spec = merge({"bits": 5, "sparsity": None, "layers": {"dense_1": {"layout": "csr"}}}, load_spec(p))
    assert spec.resolve(small_graph()) == {"conv2d": LayerSpec(5, 0.5, "dense"),
                                           "dense_1": LayerSpec(5, 0.5, "csr")}
    # a per-layer CLI value beats the global CLI value
    spec = merge({"bits": 5, "layers": {"conv2d": {"bits": 2}}}, load_spec(p))
    assert spec.resolve(small_graph())["conv2d"].bits == 2


def test_lambda_and_quantizer(tmp_path):
    p = write(tmp_path, "[defaults]\nquantizer = 'rd'\nlambda = 0.002\n")
    assert load_spec(p).defaults.lam == pytest.approx(0.002)
    assert merge({"lambda": "auto"}, load_spec(p)).defaults.lam is None


@pytest.mark.parametrize("text, pattern", [
    ("[defaults]\nbits = 9\n", r"\[defaults\]: bits = 9: must be an integer from 2 to 8"),
    ("[defaults]\nbits = 1\n", r"bits = 1: must be an integer from 2 to 8"),
    ("[defaults]\nbits = 4.0\n", r"bits = 4.0: must be an integer"),
    ("[layers.conv2d]\nsparsity = 1.0\n", r"\[layers.conv2d\]: sparsity = 1.0: must be a number in \[0, 1\)"),
    ("[layers.conv2d]\nsparsity = -0.1\n", r"sparsity = -0.1"),
    ("[defaults]\nlayout = 'coo'\n", r"layout = 'coo': must be one of auto, dense, csr, cer, cser"),
    ("[defaults]\nbitz = 4\n", r"unknown key 'bitz'"),
    ("[layers.conv2d]\nper_channel = true\n", r"\[layers.conv2d\]: unknown key 'per_channel'"),
    ("[default]\nbits = 4\n", r"unknown table 'default'"),
    ("[defaults]\nquantizer = 'cabac'\n", r"must be one of uniform, rd"),
    ("[defaults]\nlambda = -1\n", r'lambda = -1: must be a finite number >= 0 or "auto"'),
    ("[defaults]\nlambda = inf\n", r'lambda = inf: must be a finite number >= 0'),
    ("[defaults]\nlambda = nan\n", r'lambda = nan: must be a finite number >= 0'),
    ("[layers.conv2d]\nsparsity = nan\n", r"sparsity = nan: must be a number in \[0, 1\)"),
    ("[defaults]\nbits = \n", r"invalid TOML: .*\(at line 2, column"),
])
def test_invalid_files_rejected(tmp_path, text, pattern):
    p = write(tmp_path, text)
    with pytest.raises(SpecError, match=pattern) as info:
        load_spec(p)
    assert "\n" not in str(info.value)


def test_unknown_layer_lists_weight_layers(tmp_path):
    p = write(tmp_path, "[layers.dense_7]\nbits = 4\n[layers.flatten]\nbits = 4\n")
    spec = load_spec(p)
    # flatten exists but has no weights: also rejected
    with pytest.raises(SpecError, match=r"unknown layer 'dense_7', 'flatten' in \[layers\]; "
                                        r"weight layers are: conv2d, dense_1"):
        spec.resolve(small_graph())


def test_cli_values_validated_and_missing_file(tmp_path):
    with pytest.raises(SpecError, match=r"command line: bits = 12"):
        merge({"bits": 12}, None)
    with pytest.raises(SpecError, match=r"cannot read spec file"):
        find_spec(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match=r"unknown layer 'x'"):
        merge({"layers": {"x": {"bits": 4}}}, Spec()).resolve(small_graph())
