"""SCons build script of the tinycompress dev-platform.

Compiles the project's src/ and lib/ with arm-none-eabi-gcc (flags from the
board JSON: build.cpu, build.fpu), links with --gc-sections and the project's
linker script (board_build.ldscript), and prints the size of firmware.elf.
"""
import os
import shlex
import shutil
import subprocess

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment, Literal

env = DefaultEnvironment()
board = env.BoardConfig()
# SCons runs each command through `sh -c` with the arguments joined by spaces.
# Its POSIX escape wraps file names in double quotes but leaves backquotes
# live; shlex.quote makes every path (spaces, quotes, non-ASCII) one argument.
env.Replace(ESCAPE=shlex.quote)

cpu = board.get("build.cpu")
fpu = board.get("build.fpu", "none")
machine_flags = ["-mcpu=%s" % cpu, "-mthumb"]
if fpu == "none":
    machine_flags.append("-mfloat-abi=soft")
else:
    machine_flags += ["-mfpu=%s" % fpu, "-mfloat-abi=hard"]

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"],
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.isr_vector|\.text|\.rodata|\.ARM\.exidx|\.data)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)
env.Append(
    ASFLAGS=machine_flags,
    ASPPFLAGS=machine_flags + ["-x", "assembler-with-cpp"],
    CCFLAGS=machine_flags + ["-O2", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra"],
    CFLAGS=["-std=c99"],
    LINKFLAGS=machine_flags + [
        "-O2", "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
        "-Wl,--gc-sections",
        # One argument, relative to the project (the directory commands run in):
        # "${BUILD_DIR}" inside a flag string is split at the path's first space.
        Literal("-Wl,-Map," + os.path.relpath(env.subst("$BUILD_DIR/firmware.map"), env.subst("$PROJECT_DIR"))),
    ],
    LIBS=["c_nano", "gcc"],
)
if not board.get("build.ldscript", "") and not env.get("LDSCRIPT_PATH"):
    raise SystemExit("Error: no linker script: set board_build.ldscript in platformio.ini")

target_elf = env.BuildProgram()
env.AddPostAction(target_elf, env.VerboseAction("$SIZETOOL -B -d $TARGET", "Size of $TARGET"))
target_bin = env.Command(
    "${BUILD_DIR}/firmware.bin", target_elf,
    env.VerboseAction("$OBJCOPY -O binary $SOURCE $TARGET", "Building $TARGET"),
)
size = env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Size of $SOURCE"))
AlwaysBuild(size)


# The upload tools and the Debian packages that have them.
UPLOAD_TOOLS = {"st-flash": "stlink-tools", "openocd": "openocd"}


def upload(target, source, env):  # pylint: disable=unused-argument
    """Flash through an ST-LINK: st-flash when installed, else openocd.

    Prints one `Error: ...` line (tinycompress.target.flash shows it) naming the
    missing tool and its package, or saying that no probe is attached.
    """
    if shutil.which("st-info") and shutil.which("st-flash"):
        probe = subprocess.run(["st-info", "--probe"], capture_output=True, text=True, check=False)
        if "Found 0 stlink" in probe.stdout or probe.returncode != 0:
            print("Error: no ST-LINK probe attached (st-info --probe found none)")
            return 1
        cmd = ["st-flash", "--reset", "write", str(source[0]), "0x%08x" % 0x08000000]
    elif shutil.which("openocd"):
        ocd_target = board.get("upload.openocd_target", "")
        # Tcl reads the braced file name as one word, spaces and quotes included.
        cmd = ["openocd", "-f", "interface/stlink.cfg", "-f", "target/%s.cfg" % ocd_target,
               "-c", "program {%s} verify reset exit" % str(target_elf[0])]
    else:
        print("Error: no ST-LINK upload tool installed: neither %s" % " nor ".join(
            "%s (apt-get install %s)" % item for item in UPLOAD_TOOLS.items()))
        return 1
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        text = (result.stderr or result.stdout).strip().splitlines()
        print("Error: no ST-LINK probe attached or upload failed: %s" % (text[-1] if text else cmd[0]))
        return 1
    print(result.stdout)
    return 0


AlwaysBuild(env.Alias("upload", target_bin, env.VerboseAction(upload, "Uploading $SOURCE")))
Default([target_elf, target_bin])
