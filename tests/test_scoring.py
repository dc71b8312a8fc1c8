"""Scoring on small hand-made cases whose answers are worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from circles import scoring
from circles.standards import load_standard, standard_from_dict

NAN = float("nan")

# A toy standard. "far" (1000 m) needs a market and a pharmacy (a clinic is optional) and
# includes "near" (300 m), which needs a market, "shops" (a pharmacy OR a clinic) and a
# kindergarten within 500 m (its own distance).
TOY = {
    "key": "toy",
    "title": {"zh": "玩具标准", "en": "Toy standard"},
    "source": {"document": "Toy", "number": "T-1", "year": 2024, "clauses": ["1"]},
    "grades": [
        {"grade": "A", "min_share": 1.0},
        {"grade": "B", "min_share": 0.5},
        {"grade": "C", "min_share": 0.0},
    ],
    "levels": {
        "far": {
            "zh": "远",
            "en": "Far",
            "distance_m": 1000,
            "population": [5000, 10000],
            "includes": ["near"],
            "requirements": {
                "market": {"item": "1"},
                "pharmacy": {"item": "2"},
                "clinic": {"item": "3", "required": False},
            },
        },
        "near": {
            "zh": "近",
            "en": "Near",
            "distance_m": 300,
            "population": [1000, 2000],
            "requirements": {
                "market": {"item": "1"},
                "shops": {"item": "2", "any_of": ["pharmacy", "clinic"]},
                "kindergarten": {"item": "3", "distance_m": 500},
            },
        },
    },
    "indicators": {
        "complete": {"zh": "完整", "en": "Complete", "levels": ["far", "near"]},
        "commerce": {"zh": "商业", "en": "Shops", "level": "near", "requirements": ["shops"]},
        "kindergarten": {
            "zh": "幼儿园",
            "en": "Kindergarten",
            "level": "near",
            "requirements": ["kindergarten"],
        },
    },
}


def toy() -> scoring.Standard:
    return standard_from_dict(TOY, origin="toy")


def clusters(**overrides) -> pd.DataFrame:
    """Four clusters; C4 did not join the network. Distances in metres, NaN: unreachable."""
    frame = pd.DataFrame(
        {
            "cluster_id": ["C1", "C2", "C3", "C4"],
            "name": ["甲", "乙", "丙", "丁"],
            "population": [100.0, 300.0, 600.0, 1000.0],
            "area_m2": [1000.0, 1000.0, 2000.0, 500.0],
            "used": [True, True, True, False],
            "market_nearest_m": [200.0, 800.0, NAN, NAN],
            "pharmacy_nearest_m": [250.0, 600.0, 1200.0, NAN],
            "clinic_nearest_m": [900.0, 100.0, NAN, NAN],
            "kindergarten_nearest_m": [450.0, NAN, 100.0, NAN],
        }
    )
    for k, v in overrides.items():
        frame[k] = v
    return frame


def test_per_cluster_reached_missing_completeness_grade():
    s = scoring.score(clusters(), toy(), gaps=[])
    t = s.table
    # C1: far market 200, pharmacy 250 <= 1000; near market 200 <= 300,
    #     shops min(250, 900) = 250 <= 300, kindergarten 450 <= 500: everything.
    assert t.loc[0, "std_far_reached"] == "market;pharmacy"
    assert t.loc[0, "std_far_optional"] == "clinic"  # 900 <= 1000, optional
    assert t.loc[0, "std_near_missing"] == ""
    assert t.loc[0, "std_near_completeness"] == 1.0 and t.loc[0, "std_near_grade"] == "A"
    assert bool(t.loc[0, "std_far_meets"]) is True
    # C2: far 800, 600 both <= 1000 (own level met); near market 800 > 300 missing,
    #     shops min(600, 100) = 100 reached, kindergarten unreachable: 1/3 -> grade C.
    assert t.loc[1, "std_near_reached"] == "shops"
    assert t.loc[1, "std_near_missing"] == "market;kindergarten"
    assert t.loc[1, "std_near_completeness"] == pytest.approx(0.3333, abs=1e-4)
    assert t.loc[1, "std_near_grade"] == "C"
    # C3: far market unreachable, pharmacy 1200 > 1000: 0/2; near: kindergarten only, 1/3.
    assert t.loc[2, "std_far_missing"] == "market;pharmacy"
    assert t.loc[2, "std_far_completeness"] == 0.0 and t.loc[2, "std_far_grade"] == "C"
    assert t.loc[2, "std_near_reached"] == "kindergarten"
    # Overall: C1 5/5, C2 (2 + 1)/5 = 0.6, C3 (0 + 1)/5 = 0.2
    assert list(t["std_completeness"][:3]) == [1.0, 0.6, 0.2]
    assert list(t["std_missing_n"][:3]) == [0, 2, 4]
    assert list(t["std_grade"][:3]) == ["A", "B", "C"]
    # C4 did not join the network: nothing is claimed about it.
    assert pd.isna(t.loc[3, "std_far_reached"])
    assert math.isnan(t.loc[3, "std_far_completeness"])
    assert pd.isna(t.loc[3, "std_far_meets"]) and pd.isna(t.loc[3, "std_far_grade"])


def test_levels_do_not_substitute():
    s = scoring.score(clusters(), toy(), gaps=[])
    t = s.table
    # C2 meets every required item of "far" but not of "near", which "far" includes.
    assert bool(t.loc[1, "std_far_own"]) is True
    assert bool(t.loc[1, "std_near_own"]) is False
    assert bool(t.loc[1, "std_far_meets"]) is False


def test_gb50180_cluster_meeting_15min_but_not_5min():
    """Everything 10 m away except a kindergarten at 400 m: within the 15- and 10-minute
    distances but not the 5-minute 300 m. GB 50180 does not let the higher level stand in."""
    std = load_standard("gb50180-2018")
    row = {"cluster_id": "X", "population": 1000.0, "area_m2": 1.0, "used": True}
    for c in std.category_keys():
        row[f"{c}_nearest_m"] = 400.0 if c == "kindergarten" else 10.0
    t = scoring.score(pd.DataFrame([row]), std, gaps=[]).table
    assert bool(t.loc[0, "std_15min_own"]) is True
    assert bool(t.loc[0, "std_10min_own"]) is True
    assert t.loc[0, "std_5min_missing"] == "kindergarten"
    assert bool(t.loc[0, "std_block_meets"]) is True
    assert bool(t.loc[0, "std_5min_meets"]) is False
    assert bool(t.loc[0, "std_10min_meets"]) is False
    assert bool(t.loc[0, "std_15min_meets"]) is False


def _indicator(s, key, level):
    (ind,) = [i for i in s.indicators if i.key == key and i.level == level]
    return ind


def test_indicators_by_clusters_area_and_population():
    s = scoring.score(clusters(), toy(), gaps=[])
    # Three clusters are scored (C4 did not join): area 1000 + 1000 + 2000 = 4000,
    # residents 100 + 300 + 600 = 1000.
    far = _indicator(s, "complete", "far")  # only C1 meets far (with near)
    assert (far.clusters, far.area, far.population) == (
        pytest.approx(1 / 3, abs=1e-4),
        0.25,
        0.1,
    )
    assert far.status == "ok" and far.n_clusters == 3
    near = _indicator(s, "complete", "near")
    assert (near.clusters, near.area, near.population) == (
        pytest.approx(1 / 3, abs=1e-4),
        0.25,
        0.1,
    )
    # shops within 300 m: C1 (250) and C2 (100): 2/3, area 2000/4000, residents 400/1000
    shops = _indicator(s, "commerce", "near")
    assert (shops.clusters, shops.area, shops.population) == (
        pytest.approx(2 / 3, abs=1e-4),
        0.5,
        0.4,
    )
    # kindergarten within 500 m: C1 (450) and C3 (100): 2/3, 3000/4000, 700/1000
    kg = _indicator(s, "kindergarten", "near")
    assert (kg.clusters, kg.area, kg.population) == (pytest.approx(2 / 3, abs=1e-4), 0.75, 0.7)


def test_data_gap_left_out_of_completeness_and_reported_both_ways():
    # No kindergarten in the data at all: unknown, not absent.
    s = scoring.score(clusters(kindergarten_nearest_m=NAN), toy(), gaps=["kindergarten"])
    t = s.table
    assert s.status["near"]["kindergarten"] == "gap"
    # C2 at "near": market missing, shops reached; kindergarten left out: 1/2 -> grade B.
    assert t.loc[1, "std_near_completeness"] == 0.5
    assert t.loc[1, "std_near_completeness_strict"] == pytest.approx(1 / 3, abs=1e-4)
    assert t.loc[1, "std_near_grade"] == "B"
    assert t.loc[1, "std_near_gaps"] == "kindergarten"
    # C1 meets "near" on the items with data; the strict share counts the gap as missing.
    near = _indicator(s, "complete", "near")
    assert near.clusters == pytest.approx(1 / 3, abs=1e-4)
    assert near.excluded == ("near.kindergarten",) and near.status == "check data"
    assert near.clusters_strict == 0.0
    # An indicator that needs the missing item is unknown, not 0 %.
    kg = _indicator(s, "kindergarten", "near")
    assert kg.clusters is None and kg.area is None and kg.population is None
    assert kg.status == "data gap" and kg.population_strict == 0.0
    # A gap is never a blind spot.
    assert "kindergarten" not in set(s.blind_spots["requirement"])
    assert any("no data" in w and "near:kindergarten" in w for w in s.warnings)


def test_partial_gap_of_an_any_of_requirement():
    # No clinic in the data: "shops" is judged on pharmacies alone and flagged as partial.
    s = scoring.score(clusters(clinic_nearest_m=NAN), toy(), gaps=["clinic"])
    assert s.status["near"]["shops"] == "partial"
    # C2's pharmacy is 600 m away: shops missing now (it was the clinic at 100 m before).
    assert "shops" in s.table.loc[1, "std_near_missing"]
    assert _indicator(s, "commerce", "near").partial == ("shops",)


def test_all_of_requirement_takes_the_farthest():
    raw = {
        **TOY,
        "levels": {
            "near": {
                "zh": "近",
                "en": "Near",
                "distance_m": 300,
                "requirements": {"both": {"item": "1", "all_of": ["market", "pharmacy"]}},
            }
        },
        "indicators": {},
    }
    t = scoring.score(clusters(), standard_from_dict(raw), gaps=[]).table
    # C1: max(200, 250) = 250 <= 300; C2: max(800, 600) > 300; C3: market unreachable.
    assert list(t["std_near_reached"][:3]) == ["both", "", ""]


def test_a_level_with_no_data_at_all_is_unknown():
    raw = {
        **TOY,
        "levels": {
            "near": {
                "zh": "近",
                "en": "Near",
                "distance_m": 300,
                "requirements": {"kindergarten": {"item": "1"}},
            }
        },
        "indicators": {"complete": {"zh": "完整", "en": "Complete", "levels": ["near"]}},
    }
    s = scoring.score(
        clusters(kindergarten_nearest_m=NAN), standard_from_dict(raw), ["kindergarten"]
    )
    assert s.table["std_near_meets"].isna().all()
    assert s.table["std_near_grade"].isna().all()
    ind = _indicator(s, "complete", "near")
    assert ind.clusters is None and ind.status == "data gap"


def test_blind_spots_ranked_by_population():
    s = scoring.score(clusters(), toy(), gaps=[])
    b = s.blind_spots
    # C3 (600 residents) misses far: market, pharmacy and near: market, shops;
    # C2 (300) misses near: market, kindergarten. C1 misses nothing, C4 is not scored.
    assert list(zip(b["cluster_id"], b["level"], b["requirement"], strict=True)) == [
        ("C3", "far", "market"),
        ("C3", "far", "pharmacy"),
        ("C3", "near", "market"),
        ("C3", "near", "shops"),
        ("C2", "near", "market"),
        ("C2", "near", "kindergarten"),
    ]
    assert pd.isna(b.loc[0, "nearest_m"])  # C3's market: unreachable
    assert b.loc[3, "nearest_m"] == 1200.0  # C3's shops: min(1200, unreachable)
    summary = s.blind_spot_summary
    assert list(zip(summary["level"], summary["requirement"], strict=True))[:2] == [
        ("near", "market"),  # C2 + C3: 900 residents
        ("far", "market"),  # 600 (ties keep the standard's order)
    ]
    assert summary.loc[0, "population"] == 900.0 and summary.loc[0, "clusters"] == 2
    assert summary.loc[0, "share_population"] == 0.9
    # The worst clusters: lowest overall completeness first (C3 0.2, C2 0.6).
    assert list(s.worst()["cluster_id"]) == ["C3", "C2"]


def test_sparse_categories_from_the_standards_scale():
    std = toy()
    # 10,000 residents; "near" serves at most 2,000 each: expect 5 of its single items.
    found = {"market": 2, "kindergarten": 3, "pharmacy": 1, "clinic": 0}
    sparse = scoring.sparse_categories(std, found, 10_000)
    # market: 2 < 0.5 * 5 -> sparse; kindergarten 3 >= 2.5 -> fine; clinic 0 is a gap, not
    # sparse; pharmacy is required by "far" (10,000 each: expect 1, found 1) and appears
    # in "near" only inside an any_of, which sets no expectation.
    assert sparse == {
        "market": {"found": 2, "expected": 5.0, "level": "near", "residents_per_facility": 2000}
    }
    assert scoring.sparse_categories(std, found, 0) == {}


def test_requirement_distance_any_and_gap():
    std = toy()
    shops = std.level("near").requirement("shops")
    near = {"pharmacy": np.array([100.0, NAN]), "clinic": np.array([NAN, 50.0])}
    d, status = scoring.requirement_distance(shops, near, set())
    assert list(d) == [100.0, 50.0] and status == "ok"
    d, status = scoring.requirement_distance(shops, near, {"pharmacy", "clinic"})
    assert d is None and status == "gap"


def test_summary_is_plain_json():
    import json

    s = scoring.score(clusters(), toy(), gaps=[])
    text = json.dumps(s.summary())
    assert '"standard": "toy"' in text
    back = json.loads(text)
    assert back["grades"]["near"] == {"A": 1, "B": 0, "C": 2, "none": 1}
    assert back["blind_spots"]["total"] == 6
