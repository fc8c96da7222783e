#!/usr/bin/env python3
"""Stops the torch-2.x-only build breakages from coming back, on a machine that has only torch 1.13.

sernn must build against Debian's LibTorch 1.13 (CPU) and a pip torch 2.x (CUDA). The breakages
seen on torch 2.11 cannot be compiled here, so this test checks for their causes:
  1. `torch::linalg::` (and <torch/linalg.h>) do not exist in torch 2.11: use the ATen spellings
     `torch::linalg_matrix_exp`, `torch::linalg_eigvals`, ... which both versions have.
  2. torch 2.x ships fmt v12 headers in its include directory; they shadow the system fmt, so a
     compiled libfmt (Debian's libfmt.so.9) no longer matches the headers and the link fails. sernn
     uses fmt header-only: no CMake target may link `fmt::fmt`, and the built program must not
     depend on libfmt.so.
  3. CUDA sources (.cu) are compiled only when the Torch found has CUDA: every .cu file is added
     inside an `if(SERNN_HAS_CUDA)` block.

usage: check_portability.py SOURCE_DIR [BINARY ...]
Exit status 0 when clean; 1 with one line per finding (file:line: what and why).
"""
import os
import re
import subprocess
import sys

SOURCE_DIRS = ["core", "models", "regularizers", "tasks", "analysis", "bench", "app", "run", "ops", "tests", "cmake",
               "examples", "docs"]
CODE_EXT = (".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh")
FORBIDDEN = [
    (re.compile(r"torch::linalg::"), "torch::linalg:: is not declared in torch 2.x; use torch::linalg_<name>(...)"),
    (re.compile(r"#\s*include\s*[<\"]torch/linalg\.h[>\"]"), "torch/linalg.h does not exist in torch 2.x"),
]
FMT_COMPILED = re.compile(r"\bfmt::fmt\b(?!-header-only)")


def walk(root, exts):
    for d in SOURCE_DIRS:
        base = os.path.join(root, d)
        for dirpath, _, files in os.walk(base):
            for f in sorted(files):
                if f.endswith(exts) or (exts == ("CMakeLists.txt",) and f == "CMakeLists.txt"):
                    yield os.path.join(dirpath, f)


def self_test():
    """The checker finds each breakage in a small tree made for the purpose (so it can fail)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "core"))
        os.makedirs(os.path.join(d, "cmake"))
        with open(os.path.join(d, "core", "a.cpp"), "w") as fh:
            fh.write("#include <torch/linalg.h>\nauto x = torch::linalg::eigvals(w);\nauto y = torch::linalg_eigvals(w);\n")
        with open(os.path.join(d, "CMakeLists.txt"), "w") as fh:
            fh.write("target_link_libraries(a fmt::fmt)\nadd_library(k k.cu)\nif(SERNN_HAS_CUDA)\n"
                     "  add_library(ok ok.cu)\nendif()\ntarget_link_libraries(b fmt::fmt-header-only)\n")
        import io, contextlib
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(["check", d])
        lines = buf.getvalue().splitlines()
        expect = ["core/a.cpp:1:", "core/a.cpp:2:", "CMakeLists.txt:1:", "CMakeLists.txt:2:"]
        ok = rc == 1 and len(lines) == len(expect) and all(l.startswith(e) for l, e in zip(lines, expect))
        print("self-test:", "ok" if ok else "FAILED", *lines, sep="\n  ")
        return 0 if ok else 1


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) < 2:
        print(__doc__)
        return 2
    root = argv[1]
    findings = []
    this = os.path.abspath(__file__)
    for path in walk(root, CODE_EXT):
        with open(path, encoding="utf-8", errors="replace") as fh:
            for no, line in enumerate(fh, 1):
                for pat, why in FORBIDDEN:
                    if pat.search(line):
                        findings.append(f"{os.path.relpath(path, root)}:{no}: {why}")
    cmake_files = [os.path.join(root, "CMakeLists.txt")] + list(walk(root, ("CMakeLists.txt",)))
    cmake_files += [os.path.join(root, "cmake", f) for f in sorted(os.listdir(os.path.join(root, "cmake")))
                    if f.endswith(".cmake")]
    for path in cmake_files:
        if os.path.abspath(path) == this:
            continue
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        for no, line in enumerate(text.splitlines(), 1):
            code = line.split("#", 1)[0]
            if FMT_COMPILED.search(code):
                findings.append(f"{os.path.relpath(path, root)}:{no}: links fmt::fmt; use fmt::fmt-header-only "
                                "(torch 2.x's own fmt headers would shadow the system's and the link would fail)")
        # .cu sources (in add_library/add_executable/target_sources) only inside if(SERNN_HAS_CUDA)
        lines = text.splitlines()
        depth, cuda_depth, in_cuda = 0, [], []
        for line in lines:
            code = line.split("#", 1)[0]
            m = re.match(r"\s*if\s*\((.*)\)", code)
            if m:
                depth += 1
                if "SERNN_HAS_CUDA" in m.group(1):
                    cuda_depth.append(depth)
            elif re.match(r"\s*endif\s*\(", code):
                if cuda_depth and cuda_depth[-1] == depth:
                    cuda_depth.pop()
                depth -= 1
            in_cuda.append(bool(cuda_depth))
        code_text = "\n".join(l.split("#", 1)[0] for l in lines)
        for m in re.finditer(r"\b(add_library|add_executable|target_sources)\s*\(([^)]*)\)", code_text):
            no = code_text.count("\n", 0, m.start()) + 1
            if re.search(r"\S+\.cu\b", m.group(2)) and not in_cuda[no - 1]:
                findings.append(f"{os.path.relpath(path, root)}:{no}: a .cu source outside if(SERNN_HAS_CUDA): "
                                "CUDA sources are compiled only when the Torch found has CUDA")
    for binary in argv[2:]:
        try:
            out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            findings.append(f"{binary}: readelf failed: {e}")
            continue
        for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", out):
            if lib.startswith("libfmt"):
                findings.append(f"{binary}: depends on {lib}; fmt must be header-only (torch 2.x shadows its headers)")
    for f in findings:
        print(f)
    if not findings:
        print(f"portability: clean ({root})")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
