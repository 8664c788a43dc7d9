"""oligotrial: runs a multicenter randomized phase II trial from the first screened patient to the final
analysis. See README.md and docs/ for the guides by role."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("oligotrial")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installation
    __version__ = "0+unknown"

__all__ = ["__version__"]
