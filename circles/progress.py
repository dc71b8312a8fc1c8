"""The steps of a run: each one timed, and announced to whoever shows progress."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

__all__ = ["StepHook", "Steps"]

StepHook = Callable[[str], contextlib.AbstractContextManager[object]]
"""Called with a step's bilingual label around the step (the CLI shows a spinner)."""


@contextlib.contextmanager
def _quiet(label: str) -> Iterator[None]:
    yield


@dataclass
class Steps:
    """Times the steps of a run and announces them through a hook.

    Parameters
    ----------
    hook : StepHook, optional
        A context-manager factory called with each step's label; default: silent.

    Attributes
    ----------
    timings : dict of str to float
        Seconds per step key, rounded to milliseconds (``summary.json`` → ``timings_s``).
    """

    hook: StepHook | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def __call__(self, key: str, label: str) -> Iterator[None]:
        """Time one step.

        Parameters
        ----------
        key : str
            The step's key in :attr:`timings` (``load``, ``network``, ``reach`` ...).
        label : str
            What the hook shows, in Chinese and English.
        """
        t0 = time.perf_counter()
        with (self.hook or _quiet)(label):
            yield
        self.timings[key] = round(time.perf_counter() - t0, 3)
