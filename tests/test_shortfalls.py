"""The shortfall list: the nearest existing facility by the engine, the proposed site, the files.

The nearest facility is checked on a tiny network worked by hand (a walled 小区 that walks
out of a far gate, an all_of item that looks only at the missing kinds, a small park that
counts nowhere) and against networkx on a grid.
"""

from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from test_engine import reference_distances

from circles.graph import Points, Seeds
from circles.network import WalkNetwork, from_arrays
from circles.origins import Walk
from circles.prepare import Prepared
from circles.services import Category
from circles.shortfalls import (
    SHORTFALL_COLUMNS,
    nearest_facilities,
    seeds_subset,
    site_label,
    with_proposed_sites,
    write_shortfalls,
)
from circles.snap import Attachment
from circles.standards import Requirement

X0, Y0 = 500_000.0, 3_500_000.0


def _at(net: WalkNetwork, a: int, b: int, along: float, snap: float) -> tuple[int, float, float]:
    """The point ``along`` metres from node a towards node b, ``snap`` metres off the street:
    (edge, offset from the edge's u end, snap)."""
    for e, (u, v) in enumerate(zip(net.edge_u.tolist(), net.edge_v.tolist(), strict=True)):
        if (u, v) == (a, b):
            return e, along, snap
        if (u, v) == (b, a):
            return e, float(net.edge_len[e]) - along, snap
    raise AssertionError(f"no edge {a}-{b}")


def _attachment(points: list[tuple[int, float, float]]) -> Attachment:
    e, o, s = (np.array(c, dtype=float) for c in zip(*points, strict=True))
    return Attachment(e.astype(np.int64), o, s, np.ones(len(points), dtype=bool))


def _seeds(points: list[tuple[int, float, float]], origin: list[int]) -> Seeds:
    e, o, s = (np.array(c, dtype=float) for c in zip(*points, strict=True))
    return Seeds(e.astype(np.int64), o, s, np.asarray(origin, np.int64), max(origin) + 1)


def _prepared(net: WalkNetwork, services: list[tuple[str, str, tuple[int, float, float]]], **more):
    n = len(services)
    arrays = {
        "category": np.array([c for c, _, _ in services]),
        "name": np.array([name for _, name, _ in services], dtype=object),
        "osm_type": np.full(n, "node"),
        "osm_id": np.arange(1, n + 1, dtype=np.int64),
        "x": np.zeros(n),
        "y": np.zeros(n),
        **more,
    }
    return Prepared(net, arrays, _attachment([p for _, _, p in services]), "", None, False)


# --- a network worked by hand ---------------------------------------------------------------
#
#   0 ---100--- 1 ---100--- 2 ---100--- 3 ---100--- 4
#                           |
#                          150
#                           |
#                           5


def _street() -> WalkNetwork:
    x = np.array([0.0, 100.0, 200.0, 300.0, 400.0, 200.0]) + X0
    y = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 150.0]) + Y0
    return from_arrays(x, y, [0, 1, 2, 3, 2], [1, 2, 3, 4, 5])


def _hand_case():
    net = _street()
    services = [
        ("kindergarten", "乙幼儿园", _at(net, 2, 5, 140.0, 10.0)),  # 150 m from node 2
        ("kindergarten", "甲幼儿园", _at(net, 3, 4, 100.0, 0.0)),  # at node 4
        ("pharmacy", "药店一", _at(net, 0, 1, 50.0, 0.0)),
    ]
    prepared = _prepared(net, services)
    # Rows: 0 at node 0 (20 m off the street); 1 at node 3 (5 m off); 2 did not join the
    # network; 3 a walled 小区 with a gate 30 m from node 1 and a far gate 200 m from its
    # homes, 50 m past node 3.
    starts = _seeds(
        [
            _at(net, 0, 1, 0.0, 20.0),
            _at(net, 2, 3, 100.0, 5.0),
            _at(net, 0, 1, 100.0, 30.0),
            _at(net, 3, 4, 50.0, 200.0),
        ],
        [0, 1, 2, 2],
    )
    # By hand: row 0: kindergartens 20+400=420 and 20+200+150=370, pharmacy 20+50=70;
    # row 1: 5+100=105 and 5+100+150=255, pharmacy 5+250=255; row 3 (nearest gate):
    # 甲 min(30+300, 200+50)=250, 乙 min(30+100+150, 200+150+150)=280, pharmacy 30+50=80.
    clusters = pd.DataFrame(
        {
            "cluster_id": ["R0", "R1", "R2", "R3"],
            "used": [True, True, False, True],
            "kindergarten_nearest_m": [370.0, 105.0, np.nan, 250.0],
            "pharmacy_nearest_m": [70.0, 255.0, np.nan, 80.0],
        }
    )
    return net, prepared, starts, clusters


def test_nearest_facility_on_a_network_worked_by_hand():
    _, prepared, starts, clusters = _hand_case()
    kindergarten = Requirement(key="kindergarten", distance_m=300)
    both_all = Requirement(key="shops", all_of=("kindergarten", "pharmacy"), distance_m=300)
    both_any = Requirement(key="either", any_of=("kindergarten", "pharmacy"), distance_m=300)
    needs = [
        (kindergarten, [0]),  # 乙 370 m (甲 is 420 m)
        (kindergarten, [0, 1]),  # the nearer cluster decides: 甲 105 m from row 1
        (kindergarten, [2]),  # never joined the network
        (kindergarten, [3]),  # through the far gate: 甲 250 m (乙 would be 280 m via node 1)
        (both_all, [0]),  # row 0 has its pharmacy (70 m): only the kindergarten is missing
        (both_any, [0]),  # any kind: the pharmacy 70 m away
        (kindergarten, []),
    ]
    names, metres = nearest_facilities(needs, clusters, prepared, starts)
    assert names[:4].tolist() == ["乙幼儿园", "甲幼儿园", "", "甲幼儿园"]
    assert names[4].startswith("乙幼儿园 (") and "kindergarten" in names[4].lower()
    assert names[5].startswith("药店一 (") and "pharmacy" in names[5].lower()
    assert names[6] == ""
    np.testing.assert_array_equal(metres, [370.0, 105.0, np.nan, 250.0, 370.0, 70.0, np.nan])


def test_a_missing_kind_beyond_the_distance_counts_and_unnamed_facilities_are_named_by_kind():
    net, prepared, starts, clusters = _hand_case()
    prepared.services["name"] = np.array(["", "", ""], dtype=object)
    names, metres = nearest_facilities(
        [(Requirement(key="kindergarten", distance_m=300), [1])], clusters, prepared, starts
    )
    assert names[0].startswith("未命名") and "unnamed" in names[0]
    assert metres[0] == 105.0


def test_no_starts_names_nothing_and_a_mismatch_is_caught():
    _, prepared, starts, clusters = _hand_case()
    need = [(Requirement(key="kindergarten", distance_m=300), [0])]
    names, metres = nearest_facilities(need, clusters, prepared, None)
    assert names.tolist() == [""] and np.isnan(metres).all()
    with pytest.raises(ValueError, match="origins"):
        nearest_facilities(need, clusters.assign(used=True), prepared, starts)


def test_a_small_park_that_counts_nowhere_is_nobodys_nearest():
    # Two parks from row 1 (node 3): 1,500 m² at 50 m (under every band: counts nowhere)
    # and 6,000 m² at 250 m (within its 500 m band).
    net = _street()
    services = [
        ("park", "小绿地", _at(net, 3, 4, 50.0, 0.0)),  # 50 m east of node 3
        ("park", "中心公园", _at(net, 3, 2, 50.0, 200.0)),  # 50 m west of node 3, 200 m off
    ]
    prepared = _prepared(net, services, area_m2=np.array([1500.0, 6000.0]))
    starts = _seeds([_at(net, 2, 3, 100.0, 0.0)], [0])
    clusters = pd.DataFrame({"used": [True], "park_nearest_m": [250.0]})
    rule = ((5000.0, 500.0), (2000.0, 300.0))  # >= 5,000 m²: 500 m; 2,000-5,000 m²: 300 m
    park = Category(key="park", zh="公园", en="Park", radius_by_area=rule)
    need = [(Requirement(key="park", distance_m=200), [0])]
    names, metres = nearest_facilities(need, clusters, prepared, starts, categories={"park": park})
    assert names.tolist() == ["中心公园"] and metres.tolist() == [250.0]
    # Without the park rule the small one would be named: the rule is what decides.
    names, _ = nearest_facilities(need, clusters, prepared, starts)
    assert names.tolist() == ["小绿地"]


def test_seeds_subset_renumbers_the_origins():
    seeds = Seeds(np.arange(5), np.zeros(5), np.arange(5.0), np.array([0, 1, 1, 2, 3]), n_origins=4)
    sub = seeds_subset(seeds, np.array([1, 3]))
    assert sub.n_origins == 2
    assert sub.edge.tolist() == [1, 2, 4] and sub.origin.tolist() == [0, 0, 1]


# --- against networkx ---------------------------------------------------------------------------


def test_nearest_facility_matches_networkx_on_a_grid():
    rng = np.random.default_rng(13)
    side = 6
    gx, gy = np.meshgrid(np.arange(side) * 80.0, np.arange(side) * 80.0)
    jitter = rng.uniform(-15, 15, size=(2, side * side))
    x, y = gx.ravel() + jitter[0] + X0, gy.ravel() + jitter[1] + Y0
    idx = np.arange(side * side).reshape(side, side)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    keep = rng.random(len(u)) > 0.15  # a few streets missing
    net = from_arrays(x, y, u[keep], v[keep])
    walk = Walk.plain(net)
    m = len(net.edge_u)

    def random_points(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = rng.integers(0, m, n)
        return e, rng.random(n) * net.edge_len[e], rng.uniform(0, 30, n)

    se, so, ss = random_points(9)
    cats = np.array(["kindergarten"] * 5 + ["pharmacy"] * 4)
    prepared = Prepared(
        net,
        {
            "category": cats,
            "name": np.array([f"S{i}" for i in range(9)], dtype=object),
            "osm_type": np.full(9, "node"),
            "osm_id": np.arange(9),
            "x": np.zeros(9),
            "y": np.zeros(9),
        },
        Attachment(se, so, ss, np.ones(9, dtype=bool)),
        "",
        None,
        False,
    )
    n_clusters, n_seeds = 10, 14
    owner = np.sort(np.r_[np.arange(n_clusters), rng.integers(0, n_clusters, n_seeds - n_clusters)])
    ce, co, cs = random_points(n_seeds)
    starts = Seeds(ce, co, cs, owner.astype(np.int64), n_clusters)
    graph = walk.graph()
    per_seed = reference_distances(graph, Points(ce, co, cs), Points(se, so, ss))
    ref = np.full((n_clusters, 9), np.inf)  # cluster x service, by networkx
    for s, o in enumerate(owner):
        ref[o] = np.minimum(ref[o], per_seed[s])
    near = {c: np.round(ref[:, cats == c].min(axis=1), 1) for c in ("kindergarten", "pharmacy")}
    clusters = pd.DataFrame(
        {
            "used": np.ones(n_clusters, bool),
            **{f"{c}_nearest_m": np.where(np.isfinite(d), d, np.nan) for c, d in near.items()},
        }
    )
    reqs = [
        Requirement(key="kindergarten", distance_m=100),
        Requirement(key="pharmacy", distance_m=100),
        Requirement(key="either", any_of=("kindergarten", "pharmacy"), distance_m=100),
    ]
    needs = []
    for _ in range(25):
        rows = rng.choice(n_clusters, size=int(rng.integers(1, 5)), replace=False)
        needs.append((reqs[int(rng.integers(0, 3))], sorted(rows.tolist())))
    names, metres = nearest_facilities(needs, clusters, prepared, starts, walk)
    for i, (req, rows) in enumerate(needs):
        mask = np.isin(cats, req.categories)
        d = ref[np.ix_(rows, np.flatnonzero(mask))]
        best = np.round(d, 1).min()
        assert metres[i] == pytest.approx(best, abs=1e-9)
        # The facility at the smallest (rounded) distance, as networkx finds it.
        at_best = np.where(np.round(d, 1) == best, d, np.inf)
        col = np.unravel_index(np.argmin(at_best), d.shape)[1]
        expected = f"S{np.flatnonzero(mask)[col]}"
        assert names[i].split(" (")[0] == expected, (i, names[i], expected, d)


# --- the proposed site ------------------------------------------------------------------------


def _shortfalls(**rows) -> pd.DataFrame:
    base = {
        "unit": [0, 1, 2],
        "name": ["甲社区", "乙社区", "丙社区"],
        "level": ["community", "community", "community"],
        "item": ["elder_care", "elder_care", "kindergarten"],
        "zh": ["老年服务站", "老年服务站", "幼儿园"],
        "en": ["Elder care", "Elder care", "Kindergarten"],
        "clause": ["一", "一", "一"],
        "clusters": ["C1;C2;C3", "C4", "C1"],
        "n_clusters": [3, 1, 1],
        "residents_affected": [900.0, 5000.0, 300.0],
        "nearest_facility": ["", "", ""],
        "nearest_facility_m": [np.nan, 812.5, np.nan],
        "how": ["measured", "measured", "measured"],
        "status": ["missing", "missing", "missing"],
    }
    base.update(rows)
    return pd.DataFrame(base)


def test_the_site_covering_most_affected_clusters_is_proposed():
    from circles.standards import load_standard

    plan = SimpleNamespace(
        item=SimpleNamespace(category="elder_care", level="community", distance_m=500.0),
        sites=pd.DataFrame(
            {
                "rank": [1, 2],
                "name": ["", ""],
                "street": ["中山路", ""],
                "candidate_id": ["111", "222"],
            }
        ),
        # C1 newly covered by site 2, C2 and C3 by site 1, C4 by none, C5 before.
        clusters=pd.DataFrame(
            {"cluster_id": ["C1", "C2", "C3", "C4", "C5"], "site_rank": [2, 1, 1, -1, -1]}
        ),
    )
    standard = load_standard("complete-community-2020")
    out = with_proposed_sites(_shortfalls(), plan, standard)
    # Row 0: two of its three clusters by site 1; row 1: none; row 2: another item.
    assert out["proposed_site"].tolist() == ["#1 中山路", "", ""]
    # A tie goes to the better-ranked site; a candidate without name or street by its id.
    tie = with_proposed_sites(_shortfalls(clusters=["C1;C2", "C4", "C1"]), plan, standard)
    assert tie["proposed_site"].tolist()[0] == "#1 中山路"
    assert site_label({"rank": 2, "name": "", "street": None, "candidate_id": "222"}) == (
        "#2 candidate 222"
    )


def test_a_plan_for_one_kind_of_an_any_of_item_serves_it():
    from circles.standards import load_standard

    standard = load_standard("complete-community-2020")
    plan = SimpleNamespace(
        item=SimpleNamespace(category="playground", level="community", distance_m=500.0),
        sites=pd.DataFrame(
            {"rank": [1], "name": ["街角空地"], "street": [""], "candidate_id": ["9"]}
        ),
        clusters=pd.DataFrame({"cluster_id": ["C4"], "site_rank": [1]}),
    )
    rows = _shortfalls(
        item=["elder_care", "public_space", "public_space"],
        how=["measured", "measured", "self_assessed"],
    )
    out = with_proposed_sites(rows, plan, standard)
    assert out["proposed_site"].tolist() == ["", "#1 街角空地", ""]


# --- the files ------------------------------------------------------------------------------


def test_files_are_sorted_by_residents_and_defused(tmp_path):
    from openpyxl import load_workbook

    hostile = '=HYPERLINK("http://evil","x")'
    rows = _shortfalls(
        name=[hostile, "乙社区", "+cmd|' /C calc'!A0"],
        nearest_facility=["-2+3", "@SUM(A1)", "超市\x07"],
    )
    csv_path, xlsx_path = write_shortfalls(rows, tmp_path)
    assert csv_path.name == "shortfalls.csv" and xlsx_path.name == "shortfalls.xlsx"
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(SHORTFALL_COLUMNS)
    # Most residents first: 5000, 900, 300.
    assert [r["residents_affected"] for r in table] == ["5000.0", "900.0", "300.0"]
    assert [r["name"] for r in table] == ["乙社区", "'" + hostile, "'+cmd|' /C calc'!A0"]
    assert table[1]["nearest_facility"] == "'-2+3" and table[0]["nearest_facility"] == "'@SUM(A1)"
    assert all(r["proposed_site"] == "" for r in table)
    for r in table:
        for value in r.values():
            assert not value.startswith(("=", "+", "@")) and not (
                value.startswith("-") and not value.replace(".", "").lstrip("-").isdigit()
            )

    book = load_workbook(xlsx_path)
    ws = book.active
    header = [c.value for c in ws[1]]
    assert header == list(SHORTFALL_COLUMNS.values())
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:O4"
    assert ws.column_dimensions["A"].width > 10
    cells = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert [r[1] for r in cells] == ["乙社区", "'" + hostile, "'+cmd|' /C calc'!A0"]
    # No cell is a formula, and the control character is gone.
    for row in ws.iter_rows(min_row=2):
        for c in row:
            assert c.data_type != "f", c.value
    assert cells[2][10] == "超市"
    assert cells[0][9] == 5000 and cells[0][11] == 812.5 and cells[1][11] is None


def test_an_empty_list_is_written_with_its_header(tmp_path):
    empty = _shortfalls().iloc[0:0]
    csv_path, xlsx_path = write_shortfalls(empty, tmp_path)
    assert csv_path.read_text(encoding="utf-8-sig").strip().split(",") == list(SHORTFALL_COLUMNS)
    from openpyxl import load_workbook

    ws = load_workbook(xlsx_path).active
    assert ws.max_row == 1
