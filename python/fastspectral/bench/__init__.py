"""The benchmark harness behind ``fastspectral bench``.

Suites
------
A suite is a module ``fastspectral/bench/<name>_suite.py``; adding such a module registers
it, nothing else needs editing. It defines

``NAME: str``            the name used on the command line (``fastspectral bench NAME``)
``DESCRIPTION: str``     one line for ``fastspectral bench --list``
``NOTE: str``            optional; printed above the suite's table (e.g. competitor threading)
``unavailable() -> str | None``  optional; a reason the suite cannot run here (missing peer)
``cases(config: BenchConfig) -> list[Case]``  what to time

and builds its cases with :class:`Case` / :class:`Prepared` from ``_harness``. Suites are
imported lazily, so a suite whose peer library is missing does not break the others.

Example
-------
>>> from fastspectral import bench
>>> "special" in bench.suite_names()
True
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType

from ._harness import Case, CaseResult, Prepared, RunSettings, cpu_timer, cupy_timer

#: Display order for the suites we know will exist; others follow alphabetically.
_ORDER = ("special", "kron", "spectral", "gp", "vmf")
_SUFFIX = "_suite"


@dataclass
class BenchConfig:
    """What the user asked for, as seen by the suites."""

    quick: bool = False
    #: Multiplies every default problem size (tests use 0.01).
    size_scale: float = 1.0
    #: OpenMP thread counts to run the CPU cases with.
    threads: list[int] = field(default_factory=lambda: [1])
    #: "cpu", "gpu" or "all" (GPU cases only run when a device and cupy are present).
    device: str = "all"
    seed: int = 20240601

    def size(self, default: int, quick: int) -> int:
        """The problem size for this run: ``quick`` or ``default``, scaled, at least 16."""
        return max(16, int(round((quick if self.quick else default) * self.size_scale)))


def suite_names() -> list[str]:
    """Every registered suite, in display order."""
    found = [m.name[: -len(_SUFFIX)] for m in pkgutil.iter_modules(__path__)
             if m.name.endswith(_SUFFIX) and not m.name.startswith("_")]
    return sorted(found, key=lambda s: (_ORDER.index(s) if s in _ORDER else len(_ORDER), s))


def load_suite(name: str) -> ModuleType:
    """Import the suite module ``name`` (KeyError for an unknown name)."""
    if name not in suite_names():
        raise KeyError(name)
    return importlib.import_module(f"{__name__}.{name}{_SUFFIX}")


__all__ = ["BenchConfig", "Case", "CaseResult", "Prepared", "RunSettings", "cpu_timer",
           "cupy_timer", "load_suite", "suite_names"]
