"""SCons build script of the tinycompress dev-platform.

Compiles the project's src/ and lib/ with arm-none-eabi-gcc (flags from the
board JSON: build.cpu, build.fpu), links with --gc-sections and the project's
linker script (board_build.ldscript), and prints the size of firmware.elf.
"""
import shutil
import subprocess

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()

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
        "-Wl,--gc-sections", "-Wl,-Map,${BUILD_DIR}/firmware.map",
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


def upload(target, source, env):  # pylint: disable=unused-argument
    """Flash through an ST-LINK: st-flash when installed, else openocd; one line when no probe."""
    if shutil.which("st-info") and shutil.which("st-flash"):
        probe = subprocess.run(["st-info", "--probe"], capture_output=True, text=True, check=False)
        if "Found 0 stlink" in probe.stdout or probe.returncode != 0:
            print("Error: no ST-LINK probe attached (st-info --probe found none)")
            return 1
        cmd = ["st-flash", "--reset", "write", str(source[0]), "0x%08x" % 0x08000000]
    elif shutil.which("openocd"):
        ocd_target = board.get("upload.openocd_target", "")
        cmd = ["openocd", "-f", "interface/stlink.cfg", "-f", "target/%s.cfg" % ocd_target,
               "-c", "program %s verify reset exit" % str(target_elf[0])]
    else:
        print("Error: no ST-LINK probe attached (neither st-flash nor openocd is installed: apt-get install stlink-tools)")
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
