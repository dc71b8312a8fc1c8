"""Compile the engine's numba kernels ahead of the first run (``make setup`` calls this).

numba compiles a kernel at its first call and keeps the machine code in its on-disk
cache, beside ``circles/engine.py``; every later process loads it from there. Without
this step the first run after an install (or after ``engine.py`` changes, which
invalidates that cache) spends 5-10 s compiling.

    python -m circles._compile
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["compile_kernels"]


def compile_kernels() -> float:
    """Compile, or load from numba's cache, every kernel that runs and plans call.

    Each engine entry point is called once on a two-node graph, with arrays of the types
    a run gives it: :func:`circles.engine.reach` (the count and nearest kernels; k
    nearest and decays are branches of the same kernels), :func:`circles.engine.ball`
    (isochrones) and :func:`circles.engine.pairs_within` (plans).

    Returns
    -------
    float
        Seconds it took (a few when compiling, well under one when the cache is full).
    """
    from circles import engine

    t0 = time.perf_counter()
    graph = engine.Graph(2, np.array([0], np.int64), np.array([1], np.int64), np.array([2.0]))
    one = engine.Points(np.array([0], np.int64), np.array([0.5]), np.array([0.0]))
    two = engine.Points(np.array([0, 0], np.int64), np.array([0.2, 1.5]), np.array([0.0, 1.0]))
    category = np.array([0, 0], np.int64)
    engine.reach(graph, one, two, category, 1, [1.0, 3.0], k_nearest=2, decay=engine.Decay())
    engine.warm_up(isochrones=True)  # reach with one point each side, and ball
    engine.pairs_within(graph, one, two, 3.0)
    return time.perf_counter() - t0


if __name__ == "__main__":  # pragma: no cover (make setup)
    print(f"compiled the engine's kernels in {compile_kernels():.1f} s")
