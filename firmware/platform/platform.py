"""tinycompress dev-platform: used in place (`platform = ./platform`), never installed.

The toolchain package comes from `platform_packages =
toolchain-gccarmnoneeabi@symlink://...` (Debian's arm-none-eabi-gcc wrapped by
`tinycompress.target.pio.ensure_offline_core`), so nothing is fetched from the registry.
"""
from platformio.public import PlatformBase


class TinycompressPlatform(PlatformBase):
    """No frameworks, no debug tools: build with arm-none-eabi-gcc, upload with an ST-LINK if present."""

    def is_embedded(self):
        return True
