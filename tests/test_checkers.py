"""Every checker against the solution and against each injected mistake (no nbgrader).

The solution notebooks' answer cells run in this process; each injection edits
them the way a student might go wrong, and the checker must name that mistake.
"""

import pytest
from exercise_tools import ASSIGNMENTS, hidden_seed, inject, namespace_of, notebook, outcomes
from injections import ALL

from bnlib.checks import REGISTRY, parts_for

BUILT = [a for a in ASSIGNMENTS if parts_for(a)]


@pytest.fixture(scope="module")
def solutions():
    return {a: notebook("solutions", a) for a in BUILT}


@pytest.mark.parametrize("assignment", BUILT)
def test_the_solution_passes_every_part_visible_and_hidden(assignment, solutions):
    ns = namespace_of(solutions[assignment])
    for part in parts_for(assignment):
        seed = hidden_seed(solutions[assignment], part.grade_id)
        for verdict in outcomes(part.grade_id, ns, seed):
            assert verdict.passed, (part.grade_id, verdict.message)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0/0 in an injected mistake
@pytest.mark.parametrize("injection", ALL, ids=lambda i: i.name)
def test_each_injected_mistake_is_named(injection, solutions):
    nb = solutions[injection.assignment]
    ns = namespace_of(inject(nb, injection.edits))
    verdicts = outcomes(injection.grade_id, ns, hidden_seed(nb, injection.grade_id))
    failed = [v for v in verdicts if not v.passed]
    assert failed, "the checker accepted the mistake"
    assert failed[0].mistake == injection.mistake, failed[0].message


def test_every_named_mistake_has_an_injection():
    injected = {(i.grade_id, i.mistake) for i in ALL}
    named = {(p.grade_id, m.id) for p in REGISTRY.values() if p.assignment in BUILT
             for m in p.mistakes}
    assert named - injected == set()


def test_injections_touch_only_answer_code(solutions):
    for injection in ALL:
        for old, _ in injection.edits:
            assert "### BEGIN" not in old and "check(" not in old
