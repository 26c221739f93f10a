"""What a convolution's shape makes its kernels do, counted for the cost model
(`tinycompress.layouts.cost`): the `Geometry` of a layer as the kernels see it, the
output pixels whose window reaches into the padding, the sparse engine's sweep of the
output pixels over each channel's non-zero weights (tc_conv_sparse_s8.c: by one line,
by rows, by rectangles or by bands) and the dense depthwise 3 x 3 path's planes
(tc_dwconv2d_dense_s8.c)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tinycompress.layouts.base import Layout


class Geometry(NamedTuple):
    """A convolution's shape as the sweep sees it: input (unpadded) and output height,
    width, kernel, strides, and the padding before the input (top, left); its input
    channels, whether it is depthwise, and whether the build gives the kernel only its
    least scratch (`least`: a padded sparse conv2d then sweeps in bands, else by rectangles,
    a dense convolution takes its general path; --optimize size, or the layer's planned
    scratch: codegen.render's scratch policy, `Rendered.layers`); whether every output
    channel requantizes in the dense engine's short form (`cost.short_requant`: the dense
    convolution's DSP path needs it; a float layer's is not known yet, taken as short); how
    many channels with a non-zero weight requantize in the sparse engine's long form (shift
    above -2: tc_requantize at every output pixel, tc_conv_sparse_s8.c's out_px)."""
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    kernel_hw: tuple[int, int]
    strides: tuple[int, int]
    pad_tl: tuple[int, int]
    in_c: int = 1
    depthwise: bool = False
    least: bool = False
    short_rq: bool = True
    long_rows: int = 0


def planar_features(g: Geometry) -> dict[str, float]:
    """The dense depthwise kernel's work on its 3 x 3 stride 1 or 2 path
    (tc_dwconv2d_dense_s8.c, layout3), once per layer: passes of four channels load their
    input as int16 planes (plane_values: the values loaded; plane_bands: the bands of a
    ring of rows, or one for whole channels, per pass; plane_fill: the planes' values set to
    the pad value once per call), then sweep each channel's outputs along a plane row four
    at a time (plane_sweeps: sweeps per channel; plane_tails: those ending in fewer than
    four). Empty for other kernels and strides."""
    (kh, kw), (sh, sw) = g.kernel_hw, g.strides
    if (kh, kw) != (3, 3) or sh != sw or sh not in (1, 2):
        return {}
    (in_h, in_w), (out_h, out_w), (pad_top, pad_left), c, s = (
        g.in_hw, g.out_hw, g.pad_tl, g.in_c, sh)

    def cols3(n: int) -> int:
        return (n + 4) & ~1 if s == 1 else 2 * n + 2

    most = 2048 // (2 * 4)  # TC_DW_PLANE_MAX / (2 TC_DW_PASS_MAX) values a plane
    cn, rn = cols3(out_w), (out_h - 1) * s + 3
    ct, rt = cols3(out_h), (out_w - 1) * s + 3
    if out_h > out_w and rt * ct <= most:  # transposed: sweeps down the output's columns
        rows, cols, m, sweeps, n = rt, ct, out_w, out_w, out_h
        lines, first = in_w, pad_top
        width = in_h
    else:
        if rn * cn <= most:
            rows, m = rn, out_h
        else:
            fit = most // cn
            m = 1 if fit < 3 else (fit - 3) // s + 1
            rows = (m - 1) * s + 3
        cols, sweeps, n, lines, first, width = cn, out_h, out_w, in_h, pad_left, in_w
    length = min(max(cols - first, 0), width)
    passes = -(-c // 4)
    return {"plane_values": float(lines * length * c),
            "plane_bands": float(-(-sweeps // m) * passes),
            "plane_fill": float(4 * rows * cols), "plane_sweeps": float(sweeps * c),
            "plane_tails": float(sweeps * c if n % 4 else 0)}


def sparse_mode(g: Geometry) -> str:
    """How tc_conv_sparse_s8.c sweeps a layer of geometry `g` (its mode_of): 'plain' (no
    window reaches into the padding), 'rect' (padded, least scratch), else 'copy' (a
    padded copy of the input, when it needs no more scratch than the tap lists) or 'rows'
    (tap-sorted lists, row by row)."""
    kh, kw = g.kernel_hw
    if border_positions(g.in_hw, g.out_hw, g.kernel_hw, g.strides, g.pad_tl) == 0:
        return "plain"
    if g.least:
        return "rect"
    taps = 8 * kh * kw * (1 if g.depthwise else g.in_c) + 16 * (kh * kw + 2)
    return "copy" if copy_bytes(g) <= taps else "rows"


def copy_bytes(g: Geometry) -> int:
    """Bytes of the sparse engine's padded copy of the input (tc_conv_sparse_s8.c)."""
    (kh, kw), (oh, ow), (sh, sw) = g.kernel_hw, g.out_hw, g.strides
    return -(-((oh - 1) * sh + kh) * ((ow - 1) * sw + kw) * g.in_c // 4) * 4


def _axis_classes(n_in: int, n_out: int, k: int, s: int, pad: int) -> list[tuple[int, int]]:
    """The kernel taps [k0, k1) inside the input of every output index along one axis."""
    out = []
    for o in range(n_out):
        start = o * s - pad
        out.append((min(max(-start, 0), k), min(max(n_in - start, 0), k)))
    return out


def sweep_features(layout: Layout, geometry: Geometry) -> dict[str, float]:
    """The work of a sparse kernel sweeping a layer's output pixels, each over the
    non-zero weights whose tap lies inside the input (the padding's taps are summed once
    per channel). Pixels whose windows keep the same taps form classes, rectangles of
    the output (along each axis, every index whose window reaches into the padding is a
    class of its own, the indices between one class). Lines of pixels are swept in
    groups of four pixels, then two, then one. The engine's mode (`sparse_mode`) says which
    way is counted (tc_conv_sparse_s8.c); 'plain' and 'copy' are one line over the whole
    map with every tap (pad_copy: the copy's bytes, once):

    - by rows: a padded layer's output row in runs of pixels of one class, an unpadded
      layer's whole map one run. w_quad, w_pair, w_single: (non-zero weight, pixel)
      products in groups of 4, 2, 1; sweep_runs, sweep_groups: runs and groups.
    - by rectangles: each class's rectangle in lines along its longer side, after the
      channel's list is partitioned down to the class's taps. r_quad, r_pair, r_single,
      rect_lines, rect_groups likewise; rect_scan: the entries the partitions scan.

    tap_sorts: in 'rows', the entries sorted into the channels' tap lists. sweep_classes:
    the classes. Runs, groups, lines and classes are counted once per row
    (channel) with a non-zero. In 'rect' a conv2d channel whose list leaves room for a
    band of padded rows sweeps by bands instead (`band_fits`, `band_features`)."""
    levels = np.asarray(layout.decode())
    mode = sparse_mode(geometry)
    banded = band_fits(levels, geometry) if mode == "rect" else np.zeros(len(levels), bool)
    out = _sweep(levels[~banded], geometry, mode)
    for k, v in band_features(levels[banded], geometry).items():
        out[k] = out.get(k, 0.0) + v
    return out


def band_fits(levels: np.ndarray, g: Geometry) -> np.ndarray:
    """Per output channel, whether tc_conv_sparse_s8.c's RECT mode sweeps it by BANDS: a
    conv2d channel with n > 0 non-zeros whose list of K entries (8 bytes each, the least
    scratch) leaves room for kernel_h rows of the padded input (span_w x in_c bytes)."""
    n = np.count_nonzero(levels, axis=1)
    if g.depthwise:
        return np.zeros(len(levels), bool)
    kh, kw = g.kernel_hw
    width = ((g.out_hw[1] - 1) * g.strides[1] + kw) * g.in_c
    return (n > 0) & (8 * (kh * kw * g.in_c - n) // width >= kh)


def band_features(levels: np.ndarray, g: Geometry) -> dict[str, float]:
    """The BANDS sweep of these channels (all `band_fits`): per channel its n offsets
    widened (band_entries) and the band's padding written once (band_fill: bytes); per
    band its padded rows copied (band_rows, band_bytes) and one line over its output
    rows' pixels (sweep_runs, sweep_groups and the w_ products as a plain line)."""
    (kh, kw), (oh, ow), (sh, sw) = g.kernel_hw, g.out_hw, g.strides
    width = ((ow - 1) * sw + kw) * g.in_c
    mid = min(g.in_hw[1] * g.in_c, width - g.pad_tl[1] * g.in_c)
    out = dict.fromkeys(("w_quad", "w_pair", "w_single", "sweep_runs", "sweep_groups",
                         "band_chans", "band_entries", "band_fill", "band_rows",
                         "band_bytes"), 0.0)
    for n in np.count_nonzero(levels, axis=1).tolist():
        step = (8 * (kh * kw * g.in_c - n) // width - kh) // sh + 1
        out["band_chans"] += 1
        out["band_entries"] += n
        out["band_fill"] += ((step - 1) * sh + kh) * width
        for oy in range(0, oh, step):
            rows = min(step, oh - oy)
            copied = (rows - 1) * sh + kh
            out["band_rows"] += copied
            out["band_bytes"] += copied * mid
            pixels = rows * ow
            quads, pairs, singles = pixels // 4, (pixels % 4) // 2, pixels % 2
            out["w_quad"] += 4 * quads * n
            out["w_pair"] += 2 * pairs * n
            out["w_single"] += singles * n
            out["sweep_groups"] += quads + pairs + singles
            out["sweep_runs"] += 1
    return out


def _sweep(levels: np.ndarray, geometry: Geometry, mode: str) -> dict[str, float]:
    """sweep_features of these channels, swept in `mode` (RECT: by rectangles)."""
    (kh, kw), (oh, ow) = geometry.kernel_hw, geometry.out_hw
    cols = levels.shape[1]
    per_tap = np.count_nonzero(levels, axis=0).reshape(kh * kw, cols // (kh * kw)).sum(axis=1)
    grid = np.zeros((kh + 1, kw + 1))
    grid[1:, 1:] = per_tap.reshape(kh, kw).cumsum(0).cumsum(1)  # 2-D prefix sums
    live = float(np.count_nonzero(np.any(levels != 0, axis=1)))
    ys = _axis_classes(geometry.in_hw[0], oh, kh, geometry.strides[0], geometry.pad_tl[0])
    xs = _axis_classes(geometry.in_hw[1], ow, kw, geometry.strides[1], geometry.pad_tl[1])

    def work(y, x) -> float:  # the non-zeros of a class's taps
        (y0, y1), (x0, x1) = y, x
        return float(grid[y1, x1] - grid[y0, x1] - grid[y1, x0] + grid[y0, x0])

    out = dict.fromkeys(("w_quad", "w_pair", "w_single", "sweep_runs", "sweep_groups",
                         "r_quad", "r_pair", "r_single", "rect_lines", "rect_groups",
                         "rect_scan", "tap_sorts"), 0.0)

    def add(prefix: str, groups: str, w: float, n: int, lines: int = 1) -> None:
        quads, pairs, singles = n // 4, (n % 4) // 2, n % 2
        out[prefix + "quad"] += 4 * quads * w * lines
        out[prefix + "pair"] += 2 * pairs * w * lines
        out[prefix + "single"] += singles * w * lines
        out[groups] += (quads + pairs + singles) * lines * live

    y_runs, x_runs = _runs_of(ys), _runs_of(xs)
    out["pad_copy"] = float(copy_bytes(geometry)) if mode == "copy" else 0.0
    if mode in ("plain", "copy"):  # one line over the whole map (on the copy: every tap)
        add("w_", "sweep_groups", work((0, kh), (0, kw)), oh * ow)
        out["sweep_runs"] = live
    elif mode == "rows":  # each channel's entries sorted by tap twice (ky- and kx-major)
        out["tap_sorts"] = float(np.count_nonzero(levels))
        for y in ys:
            for x, n in x_runs:
                add("w_", "sweep_groups", work(y, x), n)
                out["sweep_runs"] += live
    else:
        for y, rows in y_runs:
            if y != (0, kh):
                out["rect_scan"] += work((0, kh), (0, kw))
            for x, n in x_runs:
                if x != (0, kw):
                    out["rect_scan"] += work(y, (0, kw))
                add("r_", "rect_groups", work(y, x), max(rows, n), min(rows, n))
                out["rect_lines"] += min(rows, n) * live
    out["sweep_classes"] = (float(len(y_runs) * len(x_runs)) if mode in ("rows", "rect")
                            else 1.0) * live
    return out


def _runs_of(classes: list) -> list[tuple]:
    """Runs of equal consecutive classes: (class, length)."""
    runs: list[list] = []
    for c in classes:
        if runs and runs[-1][0] == c:
            runs[-1][1] += 1
        else:
            runs.append([c, 1])
    return [tuple(r) for r in runs]


def border_positions(in_hw, out_hw, kernel_hw, strides, pad_tl) -> int:
    """Output pixels of a convolution whose window reaches into the padding.

    in_hw / out_hw: input (unpadded) and output height, width; pad_tl: the
    padding before the input (top, left), the padding after implied by out_hw.
    """
    inside = 1
    for n_in, n_out, k, s, pad in zip(in_hw, out_hw, kernel_hw, strides, pad_tl):
        first = -(-pad // s)  # first output whose window starts inside the input
        last = (n_in - k + pad) // s if n_in - k + pad >= 0 else -1
        inside *= max(0, min(last, n_out - 1) - first + 1)
    return int(out_hw[0] * out_hw[1] - inside)
