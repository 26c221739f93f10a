"""Target stage: C sources + board -> PlatformIO project -> ELF -> QEMU run or flash.

Boards are data (`boards/<name>.toml`, `boards`, `boardfiles`); `project`
writes the self-contained PlatformIO project, `pio` runs PlatformIO offline,
`qemu` and `sim` run the firmware and check it bit-exact, `flash` puts it on
a board, `state` reads and writes the build state that `sim`, `flash` and
`report` use, and `children` runs every tool in its own process group so an
interrupt ends them all before the staging directory is removed.
"""
