"""The `tinycompress` command line (see `tinycompress.cli.core`)."""
from tinycompress.cli import setup_commands  # noqa: F401  (registers setup and doctor)
from tinycompress.cli import board_commands, firmware_commands, model_commands  # noqa: F401  (registers the commands)
from tinycompress.cli.core import (
    DEBUG_ENV, EXIT_USER_ERROR, _Group, app, console, main, one_line, print_json, print_table,
)

__all__ = ["app", "main", "console", "one_line", "print_json", "print_table", "_Group",
           "DEBUG_ENV", "EXIT_USER_ERROR"]
