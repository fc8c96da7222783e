"""Finds and loads libsernn_ops.so, the C++ operators (ops/ops.h) this package calls.

Looked for, in order: the file named by $SERNN_OPS_LIBRARY; the package's own folder (where
`pip install` and `cmake --install` put it and where the build tree's python/sernn holds it).
Loading registers the operators as torch.ops.sernn.*, for Python and for TorchScript, and their
fake kernels for torch.compile (_fake.py).

The library is C++ built against one torch: it loads only into that torch's major.minor release
(with CUDA when it was built with CUDA). _build.py, written by the build next to the library,
names that torch; a mismatch is an ImportError naming both, before the library is touched.
"""
import os
import re

import torch

LIBRARY_NAME = "libsernn_ops.so"


def library_path():
    """The path of libsernn_ops.so that `load()` uses."""
    env = os.environ.get("SERNN_OPS_LIBRARY")
    if env:
        if not os.path.isfile(env):
            raise ImportError(f"sernn: SERNN_OPS_LIBRARY={env}: no such file")
        return env
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY_NAME)
    if os.path.isfile(here):
        return here
    raise ImportError(
        f"sernn: {LIBRARY_NAME} is not in {os.path.dirname(here)}; `pip install --no-build-isolation .` from a "
        "sernn checkout, or build sernn (scripts/build.sh) and put BUILD_DIR/python on PYTHONPATH "
        "(README: sernn from Python), or set SERNN_OPS_LIBRARY to the library's path")


def release(version):
    """'2.15.0+cu130' -> (2, 15); None for a string that names no release."""
    m = re.match(r"(\d+)\.(\d+)", str(version))
    return (int(m.group(1)), int(m.group(2))) if m else None


_THIS_TORCH = object()


def check_torch(built_for, built_with_cuda, path, running=_THIS_TORCH, running_cuda=_THIS_TORCH):
    """ImportError unless the running torch (by default the imported one: its version and its CUDA
    version, None without CUDA) can load a library built for torch `built_for`."""
    running = torch.__version__ if running is _THIS_TORCH else running
    running_cuda = torch.version.cuda if running_cuda is _THIS_TORCH else running_cuda
    if release(built_for) != release(running):
        raise ImportError(
            f"sernn: {path} was built for torch {built_for}, but this Python imports torch {running} "
            f"(from {os.path.dirname(torch.__file__)}); rebuild sernn against this torch "
            "(`pip install --no-build-isolation --force-reinstall .`) or install torch "
            f"{'.'.join(map(str, release(built_for) or ()))}")
    if built_with_cuda and not running_cuda:
        raise ImportError(
            f"sernn: {path} was built with CUDA (torch {built_for}), but torch {running} has no CUDA; "
            "rebuild sernn against this torch")


def load():
    """Loads the operators once per process; returns the library's path."""
    path = library_path()
    if not _registered():
        build = _build_info(path)
        if build is not None:
            check_torch(build["torch"], build["cuda"], path)
        try:
            torch.ops.load_library(path)
        except OSError as e:
            raise ImportError(
                f"sernn: cannot load {path}: {e}. It must be built against the torch this Python imports "
                f"(torch {torch.__version__} from {os.path.dirname(torch.__file__)})") from e
        from . import _fake
        _fake.register_all()
    return path


def _build_info(path):
    """What _build.py beside the library says it was built for, or None (a library given by
    $SERNN_OPS_LIBRARY without one)."""
    info = os.path.join(os.path.dirname(path), "_build.py")
    if not os.path.isfile(info):
        return None
    values = {}
    with open(info, encoding="utf-8") as f:
        exec(compile(f.read(), info, "exec"), values)  # noqa: S102 (the build's own file)
    return {"torch": values["TORCH_VERSION"], "cuda": values["CUDA"]}


def _registered():
    try:
        torch.ops.sernn.lif_network
        return True
    except (AttributeError, RuntimeError):
        return False
