"""Codegen stage: quantized graph + one layout per weight layer -> C sources.

    rendered = render(qgraph, layouts, board_name, sample_input)

Python computes every number (`ops`, `arena`, `cgen` literals); the jinja2
templates in the repository's top-level `templates/` only lay them out.
"""
