"""Draw docs/isochrone-methods.png: the three isochrone methods side by side on the
bundled district, for the README. Run: .venv/bin/python tools/isochrone_figure.py"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import shapely  # noqa: E402

from circles import pipeline  # noqa: E402
from circles.config import load_study  # noqa: E402
from circles.isochrones import isochrone_polygons  # noqa: E402
from circles.snap import EdgeIndex  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "isochrone-methods.png"
THRESHOLDS = [300.0, 500.0, 1000.0]
COLOURS = ["#08519c", "#4292c6", "#9ecae1"]


def _fill(ax, geom, colour, alpha=0.8):
    for part in shapely.get_parts(geom):
        ax.fill(*part.exterior.xy, color=colour, alpha=alpha, lw=0)
        for hole in part.interiors:
            ax.fill(*hole.xy, color="white", lw=0)


def main() -> None:
    result = pipeline.run(load_study())
    net = result.network
    clusters = result.clusters[result.clusters["used"]]
    # The cluster nearest the middle of the district, so every side has streets.
    pts = clusters.geometry.representative_point()
    middle = np.hypot(pts.x - np.median(net.x), pts.y - np.median(net.y))
    pt = pts.iloc[int(np.argmin(middle.to_numpy()))]
    att = EdgeIndex(net).attach(np.array([pt.x]), np.array([pt.y]), 300.0)
    edges = net.edges_frame()
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.6), sharex=True, sharey=True)
    for ax, method in zip(axes, ("network", "concave", "convex"), strict=True):
        [polys] = isochrone_polygons(net, att, THRESHOLDS, 25.0, method=method)
        for geom, colour in reversed(list(zip(polys, COLOURS, strict=True))):
            _fill(ax, geom, colour)
        edges.plot(ax=ax, color="#444444", linewidth=0.4)
        ax.plot(pt.x, pt.y, "o", color="#d7301f", ms=7, zorder=5)
        big = polys[-1]
        share = big.area / (np.pi * THRESHOLDS[-1] ** 2)
        ax.set_title(f"{method}: 1000 m = {big.area / 1e6:.2f} km² ({share:.0%} of the circle)")
        ax.set_axis_off()
    x0, y0 = pt.x, pt.y
    axes[0].set_xlim(x0 - 1150, x0 + 1150)
    axes[0].set_ylim(y0 - 1150, y0 + 1150)
    fig.suptitle(
        "Walking isochrones (300 / 500 / 1000 m) of one residential cluster, bundled Nanjing "
        "district. Data © OpenStreetMap contributors (ODbL)",
        fontsize=11,
    )
    fig.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=90)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
