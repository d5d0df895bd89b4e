"""Stand-ins for the CUDA libraries that PyPI's torch links against, so torch runs on the CPU without
the 3 GB of nvidia-* wheels. Run by scripts/setup-reference-python.sh after `pip install --no-deps`:

    python cuda_stubs.py VENV/lib/python3.X/site-packages/torch

PyPI's Linux torch wheel is a CUDA build: libtorch_cuda.so, libtorch_python.so and friends name
libcudart, libcublas, libcudnn, libnccl, ... as DT_NEEDED, so `import torch` fails when the dynamic
loader cannot find them, even though a CPU run never calls into them. For every such library that
is neither in torch/lib nor on the system, this compiles a small shared object with that soname,
exporting every symbol torch's libraries take from it (under the symbol version they ask for) as a
function that returns 100 (cudaErrorNoDevice, CUDA_ERROR_NO_DEVICE) or, for the *ErrorString /
*ErrorName functions, a message. It goes into torch/lib, which is on those libraries' RPATH
($ORIGIN). torch then reports no CUDA device (torch.cuda.is_available() is False) and runs on the
CPU; anything that did reach CUDA would get an error code back, never a computed value. Traced
through loading a LlavaOnevision model, PEFT and generate (torch 2.15.0), the stand-ins called are
the kernel registrations every CUDA library runs as it loads and unloads (__cudaRegisterFatBinary,
__cudaRegisterFunction, __cudaRegisterVar, __cudaUnregisterFatBinary) and the device queries
(cudaGetDeviceCount, cudaGetDevice, cudaGetLastError, cudaGetDriverEntryPointByVersion), whose
errors torch reads as "no GPU". The driver (libcuda.so.1) is left out: only libcaffe2_nvrtc.so
names it, and torch opens that lazily, for CUDA code only.

Linux x86-64 only (the ldconfig entries it reads). Needs gcc, readelf (binutils) and ldconfig.
Prints one line per stub to stderr.
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

# The system libraries torch's own libraries take symbols from (their definitions are not stubbed).
SYSTEM = ["libc.so.6", "libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libdl.so.2", "libpthread.so.0", "librt.so.1"]
LAZY = {"libcuda.so.1"}


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def dyn_symbols(lib: str):
    """(name with @version if any, binding, defined?) for each dynamic symbol of lib."""
    for line in run("readelf", "--dyn-syms", "--wide", lib).splitlines():
        f = line.split()
        if len(f) >= 8 and f[0].endswith(":") and f[0][:-1].isdigit():
            yield f[7], f[4], f[6] != "UND"


def main(torch_dir: str) -> None:
    libdir = os.path.join(torch_dir, "lib")
    libs = sorted(glob.glob(os.path.join(libdir, "*.so*")) + glob.glob(os.path.join(torch_dir, "_C*.so")))
    if not libs:
        sys.exit(f"cuda_stubs: no shared libraries under {torch_dir}")
    system = {}
    for line in run("ldconfig", "-p").splitlines()[1:]:
        m = re.match(r"\s*(\S+) \((.*)\) => (\S+)", line)
        if m and "x86-64" in m.group(2):
            system.setdefault(m.group(1), m.group(3))
    present = {os.path.basename(p) for p in libs}
    needed = set()
    for lib in libs:
        needed.update(re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", run("readelf", "-d", "-W", lib)))
    missing = sorted(n for n in needed if n not in present and n not in system and n not in LAZY)
    if not missing:
        print("cuda_stubs: torch needs no library that is missing; nothing to do", file=sys.stderr)
        return

    # Which missing library each symbol version belongs to (readelf -V's "File:" / "Name:" pairs).
    owner = {}
    defined, undefined = set(), []
    for lib in libs:
        current = None
        for line in run("readelf", "-V", "-W", lib).splitlines():
            m = re.search(r"File: (\S+)", line)
            if m:
                current = m.group(1)
                continue
            m = re.search(r"Name: (\S+)", line)
            if m and current in missing:
                owner[m.group(1)] = current
        for name, binding, is_defined in dyn_symbols(lib):
            if is_defined:
                defined.add(name.split("@")[0])
            else:
                undefined.append((name, binding))
    for name in SYSTEM:
        if name not in system:
            sys.exit(f"cuda_stubs: ldconfig does not know {name}")
        defined.update(n.split("@")[0] for n, _, d in dyn_symbols(system[name]) if d)

    exports = {so: set() for so in missing}
    for name, binding in undefined:
        if "@" in name:
            symbol, version = name.split("@", 1)
            if version in owner:
                exports[owner[version]].add((symbol, version))
        # An unversioned symbol defined nowhere (nccl, cusparseLt, cufile export none) goes to one
        # stub: the loader searches every loaded library for it. Python's own (Py*) come from the
        # interpreter, weak ones may stay unresolved.
        elif binding != "WEAK" and name not in defined and not name.startswith(("Py", "_Py")):
            exports[missing[0]].add((name, None))

    with tempfile.TemporaryDirectory() as tmp:
        for so in missing:
            symbols = sorted(exports[so], key=lambda s: (s[1] or "", s[0]))
            source = os.path.join(tmp, so + ".c")
            with open(source, "w") as f:
                f.write('static const char message[] = "CUDA is not available: a CPU-only torch (CUDA stubs)";\n')
                for symbol, _ in symbols:
                    if symbol.endswith(("ErrorString", "ErrorName")):
                        f.write(f"const char *{symbol}(void) {{ return message; }}\n")
                    else:
                        f.write(f"long {symbol}(void) {{ return 100; }}\n")
            cmd = ["gcc", "-shared", "-fPIC", "-O1", f"-Wl,-soname,{so}", "-o", os.path.join(libdir, so), source]
            versions = sorted({v for _, v in symbols if v})
            if versions:
                script = os.path.join(tmp, so + ".map")
                with open(script, "w") as f:
                    # The unversioned symbols stay global under the base version.
                    for v in versions:
                        names = "; ".join(s for s, sv in symbols if sv == v)
                        f.write(f"{v} {{ global: {names}; }};\n")
                cmd.append(f"-Wl,--version-script={script}")
            subprocess.run(cmd, check=True)
            print(f"cuda_stubs: {so}: {len(symbols)} symbols", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python cuda_stubs.py SITE_PACKAGES/torch")
    main(sys.argv[1])
