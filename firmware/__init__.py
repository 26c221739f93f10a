"""Data, not code: this directory is installed as the package tinycompress._data.firmware (setup.py)."""
