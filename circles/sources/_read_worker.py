"""The worker process of :func:`circles.sources.osm_file.start_reading`.

A module of its own so that what the worker pickles refers to ``osm_file`` by its name,
not to ``__main__``. Stray prints of any library go to stderr: stdout carries the reply.
"""

from __future__ import annotations

import os
import sys

from circles.sources.osm_file import serve_worker

if __name__ == "__main__":
    reply = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with reply:
        serve_worker(sys.argv[1], reply)
