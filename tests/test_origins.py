"""Walks from the gates of a walled 小区 and from every home, against hand-worked geometry.

The district (metres, EPSG:32650): a walled 小区, the square (0, 0)-(200, 200). Outside it
a south street y = -10 and a north street y = 250, both from x = -50 to x = 250, joined by
a west street x = -50. The gate (190, 200), in the north wall, has a path north to
(190, 250). A shop stands on the south street at (100, -10).

Single-point rule: the 小区's point (100, 100) snaps to the south street, 110 m away, and
the shop is right there: 110 m. Through the gate: hypot(90, 100) = 134.54 (to the gate) +
50 (the gate's path) + 240 (north street west to x = -50) + 260 (west street south) + 150
(south street east to x = 100) = 834.54 m; from the gate on, 700 m.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon
from tests_support import features

from circles.config import study_from_dict
from circles.gates import find_compounds
from circles.measure import measure_clusters
from circles.network import from_arrays
from circles.origins import Walk, attach_points, origin_points
from circles.prepare import Prepared
from circles.residences import Clusters, clusters_frame
from circles.scope import Scope

SQUARE = Polygon([(0, 0), (200, 0), (200, 200), (0, 200)])


def _district(extra_nodes=(), extra_edges=()):
    """The streets above, plus nodes and edges (by coordinates) for each case."""
    nodes = [
        (-50, -10),
        (100, -10),
        (250, -10),
        (-50, 250),
        (190, 250),
        (250, 250),
        (190, 200),  # the gate
        *extra_nodes,
    ]
    index = {p: i for i, p in enumerate(nodes)}
    edges = [
        ((-50, -10), (100, -10)),
        ((100, -10), (250, -10)),
        ((-50, 250), (190, 250)),
        ((190, 250), (250, 250)),
        ((-50, -10), (-50, 250)),
        ((190, 200), (190, 250)),
        *extra_edges,
    ]
    x = np.array([p[0] for p in nodes], float)
    y = np.array([p[1] for p in nodes], float)
    u = np.array([index[a] for a, _ in edges])
    v = np.array([index[b] for _, b in edges])
    return from_arrays(x, y, u, v, "EPSG:32650")


def _prepared(network, gates=((190, 200),), polygon=SQUARE):
    from circles.snap import EdgeIndex

    rows = [("way", 1, {"landuse": "residential"}, polygon)]
    rows += [("node", 10 + i, {"barrier": "gate"}, Point(g)) for i, g in enumerate(gates)]
    feats = features(rows).set_crs(network.crs, allow_override=True)
    services = {
        "x": np.array([100.0]),
        "y": np.array([-10.0]),
        "category": np.array(["convenience"]),
        "name": np.array(["shop"]),
        "osm_type": np.array(["node"]),
        "osm_id": np.array([1]),
    }
    att = EdgeIndex(network).attach(services["x"], services["y"], 300.0)
    return Prepared(network, services, att, "test", feats, False)


def _clusters(network, polygon=SQUARE, population=100.0):
    frame = clusters_frame(
        ["小区"], "landuse", [polygon], [1000.0], [10.0], [population], network.crs
    )
    pt = frame.geometry.representative_point()
    assert (pt.x[0], pt.y[0]) == (100.0, 100.0)  # the hand-worked start
    return frame


def _measure(prepared, frame, buildings=None, rule="auto", standard=None):
    study = study_from_dict(
        {
            "categories": ["convenience"],
            "thresholds": {"distances_m": [300, 800]},
            "standard": standard,
            "gates": {"rule": rule},
        }
    )
    scope = Scope.of(study)
    compounds = find_compounds(frame, prepared.network, prepared.features, study.gates)
    pt = frame.geometry.representative_point()
    att = prepared.attach(pt.x.to_numpy(), pt.y.to_numpy(), 300.0)
    clusters = Clusters(frame.assign(used=att.used), att, [], buildings)
    measure_clusters(
        prepared,
        clusters,
        compounds,
        Walk.plain(prepared.network),
        scope,
        scope.distances,
        study,
        [],
    )
    return clusters


def test_the_wall_holds_a_gate_on_the_far_side():
    net = _district()
    prepared = _prepared(net)
    clusters = _measure(prepared, _clusters(net))
    row = clusters.frame.iloc[0]
    assert row["walk_from"] == "gates"
    assert row["convenience_nearest_m"] == pytest.approx(834.54, abs=0.06)
    assert row["convenience_300m"] == 0 and row["convenience_800m"] == 0
    # The single-point rule said 110 m: the gate adds 724.54 m.
    assert row["gate_change_m"] == pytest.approx(724.5, abs=0.06)
    # Without the rule, today's figure.
    off = _measure(prepared, _clusters(net), rule="off").frame.iloc[0]
    assert off["walk_from"] == "point"
    assert off["convenience_nearest_m"] == pytest.approx(110.0)


def test_two_gates_the_nearer_wins():
    # A west gate (0, 100) with a path to the west street (-50, 100): 100 + 50 + 110 (west
    # street south to y = -10) + 150 = 410 m, nearer than the north gate's 834.54 m. The
    # west street is split at (-50, 100), where the path meets it.
    net = _district(
        extra_nodes=[(0, 100), (-50, 100)],
        extra_edges=[((0, 100), (-50, 100)), ((-50, -10), (-50, 100)), ((-50, 100), (-50, 250))],
    )
    prepared = _prepared(net, gates=((190, 200), (0, 100)))
    row = _measure(prepared, _clusters(net)).frame.iloc[0]
    assert row["convenience_nearest_m"] == pytest.approx(410.0)


def test_a_compound_with_its_own_paths():
    # An inner path from the gate (190, 200) south to (190, 150) and west to (150, 150).
    # The point (100, 100) joins it at (150, 150), hypot(50, 50) = 70.71 m away (nearer
    # than the south street), then walks 40 + 50 m to the gate: 160.71 m inside, 860.71 m
    # in all, where a straight line to the gate would have made 834.54 m.
    net = _district(
        extra_nodes=[(190, 150), (150, 150)],
        extra_edges=[((190, 200), (190, 150)), ((190, 150), (150, 150))],
    )
    prepared = _prepared(net)
    row = _measure(prepared, _clusters(net)).frame.iloc[0]
    assert row["convenience_nearest_m"] == pytest.approx(860.71, abs=0.06)


def _two_buildings(net):
    b = features(
        [
            ("way", 21, {"building": "residential"}, shapely.box(95, 175, 105, 185)),
            ("way", 22, {"building": "residential"}, shapely.box(95, 15, 105, 25)),
        ]
    ).set_crs(net.crs, allow_override=True)
    b["floor_area_m2"] = [500.0, 500.0]
    return b


def test_half_the_residents_within_reach():
    # Two equal buildings. The north one (100, 180) walks hypot(90, 20) = 92.20 m to the
    # gate, 792.20 m in all: within 800 m. The south one (100, 20) walks hypot(90, 180) =
    # 201.25 m to the gate, 901.25 m in all: beyond. Half the residents reach the shop.
    net = _district()
    clusters = _measure(_prepared(net), _clusters(net), buildings=_two_buildings(net))
    row = clusters.frame.iloc[0]
    assert row["origins"] == 2
    assert row["convenience_800m_share"] == pytest.approx(0.5)
    assert row["convenience_300m_share"] == pytest.approx(0.0)
    near = clusters.residents.nearest["convenience"]
    assert sorted(near.tolist()) == pytest.approx([792.20, 901.25], abs=0.01)


def test_half_the_residents_covered_without_walls():
    # No walls (rule off): each building walks to its nearest street. The south one at
    # (100, 20) is 30 m from the south street, the shop right there: 30 m. The north one
    # at (100, 180) is 70 m from the north street: 70 + 150 + 260 + 150 = 630 m.
    net = _district()
    row = _measure(_prepared(net), _clusters(net), buildings=_two_buildings(net), rule="off")
    row = row.frame.iloc[0]
    assert row["convenience_300m_share"] == pytest.approx(0.5)
    assert row["convenience_800m_share"] == pytest.approx(1.0)


def test_origins_weights_sum_to_the_population():
    net = _district()
    frame = _clusters(net, population=300.0)
    b = features(
        [
            ("way", 21, {"building": "residential"}, shapely.box(10, 10, 20, 20)),
            ("way", 22, {"building": "residential"}, shapely.box(50, 50, 70, 70)),
        ]
    ).set_crs(net.crs, allow_override=True)
    b["floor_area_m2"] = [100.0, 200.0]
    cluster, weight, kind, x, y = origin_points(frame, b)
    assert cluster.tolist() == [0, 0]
    assert weight.tolist() == pytest.approx([100.0, 200.0])
    assert set(kind) == {"building"}
    # Without buildings, a 200 m square is cut into 50 m cells: 16 of them.
    cluster, weight, kind, x, y = origin_points(frame, None)
    assert len(cluster) == 16 and weight.sum() == pytest.approx(300.0)
    assert set(zip(x.tolist(), y.tolist(), strict=True)) == {
        (25.0 + 50 * i, 25.0 + 50 * j) for i in range(4) for j in range(4)
    }


def test_points_outside_compounds_join_their_nearest_street():
    net = _district()
    prepared = _prepared(net)
    seeds, used = attach_points(
        np.array([100.0]),
        np.array([-30.0]),
        np.array([0]),
        prepared,
        Walk.plain(net),
        None,
        300.0,
    )
    assert used.tolist() == [True] and seeds.snap_m.tolist() == pytest.approx([20.0])


def _share_standard(share):
    from circles.standards import standard_from_dict

    return standard_from_dict(
        {
            "key": "share",
            "title": {"zh": "份额", "en": "Share"},
            "source": {"document": "Toy", "number": "T-1", "year": 2024, "clauses": ["1"]},
            "grades": [{"grade": "A", "min_share": 1.0}, {"grade": "C", "min_share": 0.0}],
            "levels": {
                "near": {
                    "zh": "近",
                    "en": "Near",
                    "distance_m": 700,
                    "requirements": {"convenience": {"item": "1"}},
                }
            },
            "resident_share": share,
        }
    )


@pytest.mark.parametrize(("share", "met"), [(None, False), (0.8, False), (0.5, True)])
def test_scoring_by_the_share_of_residents(share, met):
    # The shop within 700 m. The point is 710 m away: missed. The residents: half at 630 m,
    # half at 790 m (worked above). At 80% the 790 m half decides: missed; at 50% the
    # 630 m half: reached.
    import pandas as pd

    from circles import scoring
    from circles.origins import Residents

    frame = pd.DataFrame(
        {
            "cluster_id": ["R0001"],
            "used": [True],
            "convenience_nearest_m": [710.0],
            "population": [100.0],
            "area_m2": [40000.0],
        }
    )
    residents = Residents(
        np.array([0, 0]), np.array([50.0, 50.0]), {"convenience": np.array([630.0, 790.0])}
    )
    scores = scoring.score(frame, _share_standard(share), [], residents=residents)
    assert bool(scores.table["std_near_own"].iloc[0]) is met


def test_resident_distance_is_a_weighted_quantile():
    # Residents 10 at 100 m, 30 at 200 m, 60 at 50 m (sorted: 60 @ 50, 10 @ 100, 30 @ 200).
    # 60% are within 50 m, 70% within 100 m, all within 200 m. Cluster 1 has no residents.
    from circles import scoring
    from circles.origins import Residents

    req = _share_standard(0.5).levels[0].requirements[0]
    residents = Residents(
        np.array([0, 0, 0]),
        np.array([10.0, 30.0, 60.0]),
        {"convenience": np.array([100.0, 200.0, 50.0])},
    )
    for share, want in ((0.6, 50.0), (0.65, 100.0), (0.7, 100.0), (0.71, 200.0), (1.0, 200.0)):
        d, status = scoring.resident_distance(req, residents, set(), 2, share)
        assert status == "ok" and d[0] == want and np.isnan(d[1])


def test_elder_care_is_shared_over_residents_aged_60_and_over():
    # Cluster A reaches elder care within 300 m (100 residents, 50 aged 60+); B does not
    # (300 residents, 10 aged 60+). By residents 100/400 = 25% are covered; by those aged
    # 60 and over, 50/60 = 83.33%. A market indicator keeps all residents.
    import pandas as pd

    from circles import scoring
    from circles.standards import standard_from_dict

    raw = {
        "key": "elder",
        "title": {"zh": "养老", "en": "Elder"},
        "source": {"document": "Toy", "number": "T-1", "year": 2024, "clauses": ["1"]},
        "grades": [{"grade": "A", "min_share": 1.0}, {"grade": "C", "min_share": 0.0}],
        "levels": {
            "near": {
                "zh": "近",
                "en": "Near",
                "distance_m": 300,
                "requirements": {"elder_care": {"item": "1"}, "market": {"item": "2"}},
            }
        },
        "indicators": {
            "elder": {"zh": "养老", "en": "Elder", "level": "near", "requirements": ["elder_care"]},
            "market": {"zh": "菜场", "en": "Market", "level": "near", "requirements": ["market"]},
        },
    }
    frame = pd.DataFrame(
        {
            "cluster_id": ["A", "B"],
            "used": [True, True],
            "elder_care_nearest_m": [200.0, 900.0],
            "market_nearest_m": [200.0, 900.0],
            "population": [100.0, 300.0],
            "population_60plus": [50.0, 10.0],
            "area_m2": [1.0, 1.0],
        }
    )
    scores = scoring.score(frame, standard_from_dict(raw), [])
    by_key = {v.key: v for v in scores.indicators}
    assert by_key["elder"].population == pytest.approx(0.8333, abs=1e-4)
    assert by_key["market"].population == pytest.approx(0.25)
    # Without ages for every cluster, all residents.
    frame.loc[1, "population_60plus"] = float("nan")
    scores = scoring.score(frame, standard_from_dict(raw), [])
    assert {v.key: v for v in scores.indicators}["elder"].population == 0.25


def test_the_walking_area_starts_at_the_gate():
    # 200 m from the 小区's point: 134.54 m to the gate, then 65.46 m: the gate's path
    # (50 m) and 15.46 m of the north street each way. The shop by the south wall, 110 m
    # from the point as the crow flies, is outside; by the single-point rule it is inside.
    from circles.config import IsochroneSettings
    from circles.isochrones import draw

    net = _district()
    prepared = _prepared(net)
    for rule, shop_inside in (("auto", False), ("off", True)):
        clusters = _measure(prepared, _clusters(net), rule=rule)
        iso = draw(
            net,
            clusters.seeds,
            ["R0001"],
            [200.0],
            IsochroneSettings(buffer_m=5.0),
            used=clusters.frame["used"].to_numpy(bool),
        )
        area = iso.geometry.iloc[0]
        assert area.contains(Point(100, -10)) is shop_inside, rule
        if rule == "auto":
            assert area.contains(Point(190, 240))  # the gate's path
            assert area.contains(Point(190 - 15, 250)) and area.contains(Point(190 + 15, 250))
            assert not area.contains(Point(190 - 25, 250))  # 15.46 m + 5 m of buffer
