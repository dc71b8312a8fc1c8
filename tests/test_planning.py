"""Planning: the solvers against brute force and spopt, and a plan against a rerun.

Small random instances are solved by enumerating every set of sites; ``exact`` must reach
the optimum and greedy at least (1 - 1/e) of it (budgeted greedy, with the best single
site, at least half of that). spopt's MCLP, given the same coverage with what existing
facilities cover removed, must reach the same objective as ``exact``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from circles import planning
from circles._errors import InputError
from circles.planning import Coverage, Item

GREEDY_BOUND = 1 - 1 / math.e


def random_coverage(seed: int, n_cand: int = 8, n_clusters: int = 12) -> Coverage:
    rng = np.random.default_rng(seed)
    dense = rng.random((n_cand, n_clusters)) < rng.uniform(0.1, 0.4)
    before = rng.random(n_clusters) < 0.2
    weight = rng.integers(0, 500, n_clusters).astype(float)
    return Coverage(csr_matrix(dense), np.where(before, 0.0, weight), before)


def brute_force(cov: Coverage, n: int, cost=None, budget=None) -> float:
    best = 0.0
    m = cov.matrix.shape[0]
    for k in range(1, min(n, m) + 1):
        for sites in itertools.combinations(range(m), k):
            if cost is not None and cost[list(sites)].sum() > budget:
                continue
            best = max(best, cov.value(list(sites)))
    return best


def brute_cover(cov: Coverage) -> int:
    need = planning._reachable_needed(cov)
    dense = cov.matrix.toarray()
    for k in range(0, dense.shape[0] + 1):
        for sites in itertools.combinations(range(dense.shape[0]), k):
            if dense[list(sites)][:, need].any(axis=0).all() if k else len(need) == 0:
                return k
    raise AssertionError("unreachable")


SEEDS = range(40)


@pytest.mark.parametrize("seed", SEEDS)
def test_exact_is_the_optimum_and_greedy_within_bound(seed):
    cov = random_coverage(seed)
    for n in (1, 2, 3):
        opt = brute_force(cov, n)
        greedy = cov.value(planning.greedy(cov, n))
        exact = cov.value(planning.exact_sites(cov, n))
        assert exact == pytest.approx(opt)
        assert greedy >= GREEDY_BOUND * opt - 1e-9
        assert len(planning.greedy(cov, n)) <= n


@pytest.mark.parametrize("seed", SEEDS)
def test_budget_against_brute_force(seed):
    cov = random_coverage(seed)
    cost = np.random.default_rng(seed + 1000).integers(1, 6, cov.matrix.shape[0]).astype(float)
    for budget in (3.0, 7.0):
        opt = brute_force(cov, cov.matrix.shape[0], cost, budget)
        sites = planning.budget_greedy(cov, cost, budget)
        assert cost[sites].sum() <= budget
        exact_sites = planning.exact_sites(cov, None, cost, budget)
        assert cost[exact_sites].sum() <= budget + 1e-9
        assert cov.value(exact_sites) == pytest.approx(opt)
        assert cov.value(sites) >= GREEDY_BOUND / 2 * opt - 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_cover_all_is_the_fewest_sites(seed):
    cov = random_coverage(seed)
    sites = planning.exact_sites(cov, None, cover_all=True)
    need = planning._reachable_needed(cov)
    assert cov.matrix[sites].toarray().any(axis=0)[need].all() if len(need) else True
    assert len(sites) == brute_cover(cov)


def test_greedy_takes_exact_marginal_gains():
    # Site 0 covers {0, 1}, site 1 covers {1, 2}, site 2 covers {0}: after 0, site 1 adds 2.
    dense = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0]], dtype=bool)
    cov = Coverage(csr_matrix(dense), np.array([5.0, 5.0, 1.0]), np.zeros(3, bool))
    assert planning.greedy(cov, 3) == [0, 1]  # site 2 adds nothing: not proposed


# PuLP 3 warns on every variable spopt builds the old way (its 4.0 migration notice).
@pytest.mark.filterwarnings("ignore::DeprecationWarning:pulp")
@pytest.mark.filterwarnings("ignore::DeprecationWarning:spopt")
def test_spopt_mclp_reaches_the_exact_objective():
    pulp = pytest.importorskip("pulp")
    from spopt.locate import MCLP

    figures = []
    for seed in range(12):
        cov = random_coverage(seed, n_cand=10, n_clusters=15)
        # spopt has no fixed facilities in our sense: remove what they cover first.
        need = np.flatnonzero(~cov.before)
        dense = cov.matrix.toarray()[:, need]
        cost = np.where(dense.T, 1.0, 10.0)  # clients x facilities; radius 5
        for n in (1, 3):
            model = MCLP.from_cost_matrix(
                cost, cov.weight[need], service_radius=5.0, p_facilities=n
            )
            model.solve(pulp.PULP_CBC_CMD(msg=False))
            theirs = float(pulp.value(model.problem.objective))
            ours = cov.value(planning.exact_sites(cov, n))
            greedy = cov.value(planning.greedy(cov, n))
            figures.append((seed, n, greedy, ours, theirs))
            assert ours == pytest.approx(theirs)
    print("seed n greedy exact spopt", *figures, sep="\n")


# --- the item and bad input ----------------------------------------------------------------


def test_item_from_standard():
    from circles.standards import load_standard

    std = load_standard("gb50180-2018")
    item = planning.item_from_standard(std, "5min:elder_care")
    assert (item.category, item.level) == ("elder_care", "5min")
    assert item.distance_m == std.level("5min").requirement("elder_care").distance_m
    assert item.slug == "plan-5min-elder_care" and "300" in item.zh and "300 m" in item.en
    assert planning.item_from_standard(std, "5min:pharmacy").category == "pharmacy"
    # A requirement named other than its category (the file: sports_hall: {category: sports}).
    hall = planning.item_from_standard(std, "15min:sports_hall")
    assert hall.category == "sports" and "体育馆" in hall.zh
    with pytest.raises(InputError, match="5min:elder_care") as err:
        planning.item_from_standard(std, "5min:casino")
    assert "\n" not in str(err.value)
    with pytest.raises(InputError):
        planning.item_from_standard(std, "elder_care")
    assert Item("market", 500).slug == "plan-500m-market"


@pytest.fixture(scope="module")
def district():
    from circles import pipeline
    from circles.config import load_study

    return pipeline.run(load_study(), tables_only=True)


@pytest.mark.slow
def test_bad_input(district, tmp_path):
    with pytest.raises(InputError, match="no item"):
        planning.plan(district, "5min:casino", 3)
    for n in (0, -2):
        with pytest.raises(InputError, match="at least 1"):
            planning.plan(district, Item("pharmacy", 300), n)
    empty = tmp_path / "empty.csv"
    empty.write_text("name,lon,lat\nA,,\nB,0,0\n", encoding="utf-8")
    with pytest.raises(InputError, match="no usable candidate"):
        planning.plan(district, Item("pharmacy", 300), 2, candidates=empty)
    sites = _write_sites(district, tmp_path / "c.csv", cost=[50.0, 80.0])
    with pytest.raises(InputError, match="below every"):
        planning.plan(district, Item("pharmacy", 300), None, candidates=sites, budget=10)


def _write_sites(result, path, cost=None, extra_rows=()):
    """Two candidate rows at the first two street nodes of the network (WGS-84)."""
    net = result.network
    lines = ["name,lon,lat" + (",cost" if cost else "")]
    for i in range(2):
        row = f"site {i},{net.lon[i]:.9f},{net.lat[i]:.9f}"
        lines.append(row + (f",{cost[i]}" if cost else ""))
    lines.extend(extra_rows)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_candidate_file_rejects_rows_and_reads_costs(district, tmp_path):
    path = _write_sites(district, tmp_path / "c.csv", cost=[5, 7], extra_rows=["bad,x,y,1"])
    p = planning.plan(district, Item("pharmacy", 300), None, candidates=path, budget=6)
    assert p.n_candidates == 2 and p.candidates_source == "c.csv"
    assert [r["reason"] for r in p.rejected] == ["bad_coordinates"]
    assert p.method == "budget" and (p.sites["cost"] <= 6).all()


@pytest.mark.slow
def test_plan_fills_every_field(district):
    p = planning.plan(district, "5min:elder_care", 3, exact=True)
    assert p.data_gap and p.notes  # the bundled district maps no elder care
    assert list(p.sites["rank"]) == list(range(1, len(p.sites) + 1))
    assert np.all(np.diff(p.sites["cum_share"]) >= 0)
    assert p.sites["new_residents"].sum() == pytest.approx(p.greedy_value)
    assert p.exact_value is not None and p.gap is not None and p.gap >= 0
    c = p.clusters
    assert (c["covered_after"] >= c["covered_before"]).all()
    assert set(c.loc[c["site_rank"] > 0, "site_rank"]) <= set(p.sites["rank"])
    assert p.after["residents"] >= p.before["residents"]
    assert p.sites["lon"].between(118, 119.5).all()
    assert p.sites["street"].map(type).eq(str).all()


def _walkable_way_names_per_node() -> dict[int, set[str]]:
    """The bundled district parsed with ElementTree: each node's walkable ways' names
    (name, name:zh, name:en, ref; "" for a way with none)."""
    import xml.etree.ElementTree as ET

    from tests_support import BUNDLED

    from circles.settings import is_walkable

    out: dict[int, set[str]] = {}
    for way in ET.parse(BUNDLED).getroot().iter("way"):
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        if "highway" not in tags or not is_walkable(tags):
            continue
        name = next((tags[k] for k in ("name", "name:zh", "name:en", "ref") if tags.get(k)), "")
        for nd in way.iter("nd"):
            out.setdefault(int(nd.get("ref")), set()).add(name)
    return out


@pytest.mark.slow
def test_sites_name_their_street(district):
    ways_of = _walkable_way_names_per_node()
    all_names = set().union(*ways_of.values()) - {""}
    checked = 0
    for item in (Item("pharmacy", 300), Item("elder_care", 300), Item("market", 500)):
        p = planning.plan(district, item, 10)
        assert len(p.sites) > 0
        for node, street in zip(p.sites["candidate_id"], p.sites["street"], strict=True):
            names = ways_of[int(node)]  # street candidates are OSM nodes
            if names - {""}:
                # On a named way: the name of one of the ways through the node.
                assert street in names - {""}, (item, node, street, names)
                checked += 1
            else:
                # On unnamed ways only: a named street within 50 m, or nothing.
                assert street == "" or street in all_names
    assert checked >= 5
    # One by hand: the top pharmacy site's street is a way through its node in the XML.
    top = planning.plan(district, Item("pharmacy", 300), 1).sites.iloc[0]
    assert top["street"] and top["street"] in ways_of[int(top["candidate_id"])]


def test_street_names_fall_back_to_the_nearest_named_edge_within_50_m():
    from circles.network import from_arrays
    from circles.snap import attach_to_nodes

    # A row of 30 m edges along x: 1-2 is "A" (x 30-60), 5-6 is "B" (x 150-180), the rest
    # have no name.
    x = np.arange(7) * 30.0
    names = np.array(["", "A", "", "", "", "B"])
    net = from_arrays(x, np.zeros(7), np.arange(6), np.arange(1, 7), edge_name=names)
    # Node 0 is 30 m from "A"; node 3 30 m from "A" and 60 m from "B"; node 4 the other way.
    nodes = np.array([0, 1, 3, 4])
    att = attach_to_nodes(net, nodes)
    got = planning._street_names(net, att, net.x[nodes], net.y[nodes])
    assert got == ["A", "A", "A", "B"]
    # At x = 105 both are 45 m away: the lower edge index wins. At x = -100 none is near.
    one = att.subset(np.array([2]))
    assert planning._street_names(net, one, np.array([105.0]), np.zeros(1)) == ["A"]
    assert planning._street_names(net, one, np.array([-100.0]), np.zeros(1)) == [""]


@pytest.mark.slow
@pytest.mark.parametrize(("category", "distance"), [("pharmacy", 300.0), ("elder_care", 300.0)])
def test_a_rerun_with_the_sites_gives_the_planned_coverage(district, tmp_path, category, distance):
    from circles import pipeline
    from circles.config import PoiTable

    p = planning.plan(district, Item(category, distance), 3)
    assert len(p.sites) > 0
    table = tmp_path / "sites.csv"
    # Full precision: the planned points themselves, not the rounded output columns.
    geo = p.sites.to_crs("EPSG:4326").geometry
    rows = [
        f"site {i},{a:.10f},{b:.10f},{category}"
        for i, (a, b) in enumerate(zip(geo.x, geo.y, strict=True))
    ]
    table.write_text("name,lon,lat,category\n" + "\n".join(rows) + "\n", encoding="utf-8")
    study = district.study.model_copy(update={"pois": [PoiTable(file=table, crs="wgs84")]})
    rerun = pipeline.run(study, tables_only=True)
    after = (rerun.clusters[f"{category}_nearest_m"] <= distance).to_numpy()
    np.testing.assert_array_equal(after, p.clusters["covered_after"].to_numpy())
    before = (district.clusters[f"{category}_nearest_m"] <= distance).to_numpy()
    np.testing.assert_array_equal(before, p.clusters["covered_before"].to_numpy())
