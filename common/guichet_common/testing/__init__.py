"""Test support shared by every service's tests (pytest plugin in plugin.py)."""

from importlib import util as _util
from pathlib import Path as _Path
from types import ModuleType as _ModuleType

SAMPLES_PATH = _Path(__file__).resolve().parents[3] / "services" / "wallet" / "tests" / "samples.py"


def load_samples() -> _ModuleType:
    """The wallet's sample documents (valid files of each accepted format, refused traps),
    loaded by path so every test suite builds the same bytes."""
    spec = _util.spec_from_file_location("guichet_samples", SAMPLES_PATH)
    assert spec and spec.loader
    module = _util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
