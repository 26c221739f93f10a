"""Packaging that pyproject.toml cannot express: the data directories in the package namespace.

templates/, firmware/ and boards/ stay at the repository's top level; the
wheel carries them as the packages tinycompress._data.templates, ._data.firmware
and ._data.boards (package-dir mapping, no copies in git), and an editable
install maps the same names onto the checkout. tinycompress/paths.py finds
them through importlib.resources either way.
"""
from setuptools import find_packages, setup

DATA_DIRS = {
    "templates": ["*.j2"],
    "firmware": ["**/*.c", "**/*.h", "**/*.S", "**/*.py", "**/*.json"],
    "boards": ["*.toml", "*.json"],
}

setup(
    packages=find_packages(include=["tinycompress", "tinycompress.*"])
    + [f"tinycompress._data.{name}" for name in DATA_DIRS],
    package_dir={f"tinycompress._data.{name}": name for name in DATA_DIRS},
    package_data={"tinycompress.layouts": ["cost_table.json"],
                  **{f"tinycompress._data.{name}": globs for name, globs in DATA_DIRS.items()}},
)
