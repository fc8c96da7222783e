"""Finds and loads libsernn_ops.so, the C++ operators (ops/ops.h) this package calls.

Looked for, in order: the file named by $SERNN_OPS_LIBRARY; the package's own folder (where
`cmake --install` puts it and where the build tree's python/sernn holds it). Loading registers
the operators as torch.ops.sernn.*, for Python and for TorchScript.
"""
import os

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
        f"sernn: {LIBRARY_NAME} is not in {os.path.dirname(here)}; build sernn (scripts/build.sh) and put "
        "BUILD_DIR/python on PYTHONPATH, or `cmake --install` it and put the prefix's site directory there "
        "(README: sernn from Python), or set SERNN_OPS_LIBRARY to the library's path")


def load():
    """Loads the operators once per process; returns the library's path."""
    path = library_path()
    if not _registered():
        try:
            torch.ops.load_library(path)
        except OSError as e:
            raise ImportError(
                f"sernn: cannot load {path}: {e}. It must be built against the torch this Python imports "
                f"(torch {torch.__version__} from {os.path.dirname(torch.__file__)})") from e
    return path


def _registered():
    try:
        torch.ops.sernn.lif_network
        return True
    except (AttributeError, RuntimeError):
        return False
