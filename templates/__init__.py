"""Data, not code: this directory is installed as the package tinycompress._data.templates (setup.py)."""
