"""Executable specifications: the float interpreter and the integer reference.

`float_ref` runs a float `Graph`; `int_ref` runs a `QGraph` with the numpy
twins of the C kernels: `weight_ops` for dense and conv layers and, for the
other ops, `int_prepare` (real scales -> integer Params, once, at build time)
then `int_eval` (the integer loops). `requant` is the fixed-point step they share;
`bounds` gives every op's worst-case integer ranges, the build's proof that no
kernel overflows (quantize checks every node with it).
"""
