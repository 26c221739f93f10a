"""Scratch memory of the kernels that borrow it from their caller (CMSIS-NN style).

A kernel that needs working memory takes a `tc_context` (buffer, size) and
has a C `<kernel>_buffer_size(...)` function; the functions here are the same
formulas in Python (tests/test_dense_engine_host.py compares them on many
shapes), so the arena planner can give each layer's buffer a place in the
static arena that is live only during that layer's step.

The dense depthwise kernel reads a 3 x 3 stride-1 layer's input one channel at a
time through int16 rows (all of them, or three at a time); other kernels, through
four channels' unpacked levels. The sparse conv2d and depthwise kernels (every
sparse layout) decode one output channel's weights at a time into their scratch,
once per call.

The dense FC and conv2d kernels pack their inputs as int16 lanes in groups of
levels (firmware/runtime/src/tc_fc_dense_s8.c): 4 levels at 8 bits, 8 at
4..7, 16 at 2..3, 32 at 1; every size below is rounded up to whole groups.
"""
from __future__ import annotations

from tinycompress.codegen.memory import FUSED
from tinycompress.ir.qgraph import QNode
from tinycompress.layouts import Layout


def dense_group(bits: int) -> int:
    """Levels per group of the dense engine at `bits` (tc_dense_group)."""
    return 4 if bits == 8 else 8 if bits >= 4 else 16 if bits >= 2 else 32


def dense_padded(cols: int, bits: int) -> int:
    """`cols` rounded up to whole groups."""
    g = dense_group(bits)
    return -(-cols // g) * g


def dense_tail_bytes(rows: int, cols: int, bits: int) -> int:
    """Bytes of the zero-padded copy of the last rows (tc_dense_tail_bytes), 4-aligned.

    A row is read in whole groups, up to `read` bytes from its start; the last
    rows whose reads would run past the weight array (`read` > the row's bytes:
    one row, or more when rows are shorter than the overhang) are copied, followed
    by zeros up to the last one's padded end. 0 when rows end on a group's bytes.
    """
    row_bytes = -(-cols * bits // 8)
    read = dense_padded(cols, bits) * bits // 8
    n = min(rows, -(-read // row_bytes) - 1)
    return 0 if n == 0 else -(-(n * row_bytes + read - row_bytes) // 4) * 4


RQ_BYTES = 20  # sizeof(tc_dense_rq): a convolution's requantization constants per channel


def fc_dense_buffer_size(fan_in: int, units: int, bits: int) -> int:
    """tc_fc_dense_s8_buffer_size: the packed input column and the tail copy."""
    return 2 * dense_padded(fan_in, bits) + dense_tail_bytes(units, fan_in, bits)


def six_columns(kernel_h: int, kernel_w: int, in_c: int, bits: int, strides=(1, 1),
                post: bool = False) -> bool:
    """Whether tc_conv2d_dense_s8 packs six columns (its DSP path: six pixels a pass): at
    8 bits without a post-op, for a 1x1 stride 1 kernel or a patch of at most 64 levels."""
    pointwise = kernel_h == kernel_w == 1 and tuple(strides) == (1, 1)
    return bits == 8 and not post and (pointwise or dense_padded(kernel_h * kernel_w * in_c, 8)
                                       <= 64)


def conv2d_dense_buffer_size(kernel_h: int, kernel_w: int, in_c: int, out_c: int,
                             bits: int, padded: bool = False, strides=(1, 1),
                             post: bool = False, least: bool = False) -> int:
    """tc_conv2d_dense_s8_buffer_size, the DSP path's scratch: the output channels'
    requantization constants (20 B each); two packed 8-bit patch columns (six without a
    post-op for a 1x1 stride 1 kernel or a patch of at most 64 levels: six pixels a pass);
    a gather area (a patch; six with six columns) when a kernel row is not a whole number
    of groups or some window reaches into the padding (`padded`), and a post-op's two
    pixels' sums (2 out_c, rounded up to 4) unless the gather area's first K bytes hold
    them; the rows as int8 padded to whole groups when they are not whole groups or the
    levels are below 8 bits (unpacked once per call), else the tail copy; or the general
    path's if larger. `least`: tc_conv2d_dense_s8_min_buffer_size, the general path's
    (two columns at `bits`, one gather area, the tail copy)."""
    if not least:  # enough for either path
        return max(conv2d_dense_buffer_size(kernel_h, kernel_w, in_c, out_c, bits, padded, strides,
                                            post, least=True),
                   _dsp_conv_bytes(kernel_h, kernel_w, in_c, out_c, bits, padded, strides, post))
    return _dsp_conv_bytes(kernel_h, kernel_w, in_c, out_c, bits, padded, strides, post, least)


def _dsp_conv_bytes(kernel_h: int, kernel_w: int, in_c: int, out_c: int, bits: int,
                    padded: bool, strides, post: bool, least: bool = False) -> int:
    """conv2d_dense_buffer_size's two layouts: the DSP path's, or `least` the general one's."""
    cols, run = kernel_h * kernel_w * in_c, kernel_w * in_c
    lb = bits if least else 8  # the columns' and gather area's width
    six = not least and six_columns(kernel_h, kernel_w, in_c, 8, strides, post)
    gather = (0 if run % dense_group(lb) == 0 and not padded
              else (6 if six else 1) * dense_padded(cols, lb))
    stage = gather
    if post:
        sums = -(-2 * out_c // 4) * 4
        stage = gather if gather > 0 and sums <= cols else gather + sums
    rows = (out_c * dense_padded(cols, 8) if not least and (bits < 8 or cols % 4)
            else dense_tail_bytes(out_c, cols, bits))
    return RQ_BYTES * out_c + 2 * (6 if six else 2) * dense_padded(cols, lb) + stage + rows


def conv2d_dense_add_buffer_size(kernel_h: int, kernel_w: int, in_c: int, out_c: int,
                                 bits: int, padded: bool = False, strides=(1, 1)) -> int:
    """tc_conv2d_dense_add_s8_buffer_size: conv2d_dense_buffer_size with the post-op."""
    return conv2d_dense_buffer_size(kernel_h, kernel_w, in_c, out_c, bits, padded, strides,
                                    post=True)


def conv_sparse_buffer_size(kernel_h: int, kernel_w: int, in_c: int, depthwise: bool,
                            span: tuple[int, int] | None = None) -> int:
    """tc_conv2d_sparse_s8_buffer_size / tc_dwconv2d_sparse_s8_buffer_size (every sparse
    layout): one output channel's non-zero weights listed as (int32 input offset, int32
    level) pairs, room for all K = kernel_h * kernel_w * (1 or in_c) of them (8 K). When
    some window reaches into the padding, `span` = (rows, columns) the windows cover
    ((out - 1) * stride + kernel), plus the smaller of: a copy of the input with its
    padding (span rows x columns x in_c, rounded up to 4), or a second list and four
    int32 arrays of kernel_h * kernel_w + 2 (the lists sorted by tap)."""
    taps = kernel_h * kernel_w
    k = taps * (1 if depthwise else in_c)
    if span is None:
        return 8 * k
    copy = -(-span[0] * span[1] * in_c // 4) * 4
    return 8 * k + min(copy, 8 * k + 16 * (taps + 2))


def conv_sparse_min_buffer_size(kernel_h: int, kernel_w: int, in_c: int, depthwise: bool) -> int:
    """tc_conv_sparse_min_buffer_bytes: the least scratch the sparse engine runs with, the
    list alone (8 K); a padded layer given less than conv_sparse_buffer_size then sweeps
    each conv2d channel in bands of padded input rows in the room its list leaves (when
    that holds kernel_h rows), else rectangle by rectangle over the list partitioned in
    place (slower)."""
    return 8 * kernel_h * kernel_w * (1 if depthwise else in_c)


DW_GROUP_BYTES = 200  # tc_dwconv2d_dense_s8's unpacked levels of four channels (25 taps)
DW_PLANE_MAX = 2048  # TC_DW_PLANE_MAX: most bytes of a pass's whole planar inputs (four channels)
DW_PASS = 4  # TC_DW_PASS_MAX: channels of a pass, one plane each


def dwconv_dense_buffer_size(kernel_h: int, kernel_w: int, stride_h: int, stride_w: int,
                             out_h: int, out_w: int) -> int:
    """tc_dwconv2d_dense_s8_buffer_size: 3 x 3 at stride 1 or 2 (the same both ways), four
    channels' planes of int16 rows (layout3 in tc_dwconv2d_dense_s8.c) of cols columns (a
    sweep of n outputs: (n + 4) rounded down to even at stride 1, 2n + 2 at stride 2):
    taller than wide, the whole channels transposed ((out_w - 1) s + 3 rows, sweeps of
    out_h) when they fit DW_PLANE_MAX bytes; else (out_h - 1) s + 3 rows when they fit,
    else a ring of the rows of m output rows, as many as fit (at least one); at least
    DW_GROUP_BYTES (plain C takes stride 2 four channels at a time). Other kernels and
    strides: four channels' unpacked levels."""
    if not (kernel_h == kernel_w == 3 and stride_h == stride_w and stride_h in (1, 2)):
        return DW_GROUP_BYTES
    s = stride_h

    def cols(n: int) -> int:
        return (n + 4) & ~1 if s == 1 else 2 * n + 2

    cn, rn = cols(out_w), (out_h - 1) * s + 3
    ct, rt = cols(out_h), (out_w - 1) * s + 3
    most = DW_PLANE_MAX // (2 * DW_PASS)  # values of one plane
    if out_h > out_w and rt * ct <= most:
        rows, c = rt, ct
    elif rn * cn <= most:
        rows, c = rn, cn
    else:
        fit = most // cn
        m = 1 if fit < 3 else (fit - 3) // s + 1
        rows, c = (m - 1) * s + 3, cn
    return max(2 * DW_PASS * rows * c, DW_GROUP_BYTES)


def conv_padded(node: QNode) -> bool:
    """tc_conv_padded: some window of the convolution reaches into its padding."""
    (top, _), (left, _) = node.attrs.get("pads", ((0, 0), (0, 0)))
    (in_h, in_w, _), (out_h, out_w, _) = node.input_shapes[0], node.output_shape
    sh, sw = node.strides
    return bool(top or left or (out_h - 1) * sh + node.kh - top > in_h
                or (out_w - 1) * sw + node.kw - left > in_w)


def conv_span(node: QNode) -> tuple[int, int] | None:
    """(rows, columns) of input and padding the windows cover, when some window reaches
    into the padding (else None)."""
    if not conv_padded(node):
        return None
    (out_h, out_w, _), (sh, sw) = node.output_shape, node.strides
    return (out_h - 1) * sh + node.kh, (out_w - 1) * sw + node.kw


def six_pixels(node: QNode, layout: Layout | None) -> bool:
    """Whether `node` runs tc_conv2d_dense_s8's six-pixel path (render's TC_CONV_DENSE_SIX:
    a build with no such layer leaves that code out)."""
    return (layout is not None and layout.name == "dense" and node.op == "conv2d"
            and FUSED not in node.attrs
            and six_columns(node.kh, node.kw, int(node.input_shapes[0][-1]), 8,
                            tuple(int(v) for v in node.strides)))  # 8: the DSP path unpacks


def scratch_bytes(node: QNode, layout: Layout | None) -> int:
    """Scratch bytes the kernel of `node` in `layout` needs (0: it takes no tc_context)."""
    if layout is None:
        return 0
    if layout.name != "dense":
        if node.op not in ("conv2d", "depthwise_conv2d"):
            return 0
        return conv_sparse_buffer_size(node.kh, node.kw, int(node.input_shapes[0][-1]),
                                       node.op == "depthwise_conv2d", conv_span(node))
    bits = int(layout.bits)
    if node.op == "dense":
        fan_in = 1
        for d in node.input_shapes[0]:
            fan_in *= int(d)
        return fc_dense_buffer_size(fan_in, int(node.output_shape[-1]), bits)
    if node.op == "conv2d":
        size = conv2d_dense_add_buffer_size if FUSED in node.attrs else conv2d_dense_buffer_size
        return size(node.kh, node.kw, int(node.input_shapes[0][-1]), int(node.output_shape[-1]),
                    bits, conv_padded(node), tuple(int(v) for v in node.strides))
    if node.op == "depthwise_conv2d":
        (sh, sw), (out_h, out_w, _) = node.strides, node.output_shape
        return dwconv_dense_buffer_size(node.kh, node.kw, int(sh), int(sw), int(out_h),
                                        int(out_w))
    return 0


def lean_scratch_bytes(node: QNode, layout: Layout | None, sparse: bool = True) -> int:
    """The least scratch the kernel of `node` in `layout` runs with, at some speed: the
    sparse engine's list alone for a padded sparse convolution (`conv_sparse_min_buffer_size`;
    `sparse` False: not these), a dense conv's general path (`conv2d_dense_buffer_size(
    least=True)`); else `scratch_bytes`."""
    if layout is None or node.op not in ("conv2d", "depthwise_conv2d"):
        return scratch_bytes(node, layout)
    in_c = int(node.input_shapes[0][-1])
    if layout.name == "dense":
        if node.op != "conv2d" or FUSED in node.attrs:
            return scratch_bytes(node, layout)
        return conv2d_dense_buffer_size(node.kh, node.kw, in_c, int(node.output_shape[-1]),
                                        int(layout.bits), conv_padded(node),
                                        tuple(int(v) for v in node.strides), least=True)
    if not sparse or not conv_padded(node):
        return scratch_bytes(node, layout)
    return conv_sparse_min_buffer_size(node.kh, node.kw, in_c, node.op == "depthwise_conv2d")
