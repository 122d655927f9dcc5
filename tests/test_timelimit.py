"""The time limit's rules (bngrade.timelimit): derived from the reference, and which
recorded results a changed limit can change. The runs are in test_engine_stops.py."""

import pytest

from bngrade import timelimit
from bngrade.timelimit import FLOOR, MULTIPLE, derive, may_change, observed


def test_the_limit_is_a_multiple_of_the_reference_with_a_floor():
    assert derive(0.01) == FLOOR
    assert derive(2.0) == MULTIPLE * 2.0
    assert derive(2.01) == 21.0  # whole seconds, rounded up (nbgrader's timeout is)


def test_what_a_notebook_records():
    assert observed(5.0, [0.1, 0.2], [0.3]) == {"time_limit": 5.0, "slowest": 0.3,
                                                "timed_out": False}
    assert observed(5.0, [5.01], [])["timed_out"]
    # a kernel cell that never replied counts as the whole limit
    assert observed(5.0, [], [float("inf")]) == {"time_limit": 5.0, "slowest": 5.0,
                                                 "timed_out": True}


FAST = [{"time_limit": 10.0, "slowest": 0.2, "timed_out": False}]
SLOW = [{"time_limit": 10.0, "slowest": 3.0, "timed_out": False}]
HIT = [{"time_limit": 10.0, "slowest": 10.0, "timed_out": True}]


@pytest.mark.parametrize("limit, changed", [
    (10.0, []),  # the same limit: nothing
    (20.0, ["hit"]),  # grew: only what ran into the old one
    (5.0, ["hit"]),  # shrank, but above every finished step
    (3.0, ["slow", "hit"]),  # shrank to the slow one's step
    (2.0, ["slow", "hit"]),
])
def test_a_changed_limit_changes_only_what_it_can(limit, changed):
    rows = {"fast": FAST, "slow": SLOW, "hit": HIT}
    assert [s for s, nbs in rows.items() if may_change(nbs, limit)] == changed


def test_a_row_without_times_is_regraded():
    assert may_change([{"name": "nb", "questions": []}], 10.0)
    assert not may_change([], 10.0)  # never recorded: planned by its input hash


def test_a_notebook_that_never_ran_is_left_whatever_the_limit():
    unreadable = [{"name": "nb", "questions": [], "time_limit": None, "slowest": 0.0,
                   "timed_out": False}]
    assert not any(may_change(unreadable, limit) for limit in (1.0, 10.0, 1000.0))


def test_the_cache_key_follows_sources_and_versions(monkeypatch):
    a = timelimit.cache_name("ps", {"ps": "text"})
    assert len(a) <= 64 and a == timelimit.cache_name("ps", {"ps": "text"})
    assert a != timelimit.cache_name("ps", {"ps": "text 2"})
    monkeypatch.setattr(timelimit, "__version__", "other")
    assert a != timelimit.cache_name("ps", {"ps": "text"})
