"""Every checker against the solution and against each injected mistake (no nbgrader).

The solution notebooks' answer cells run in this process; each injection edits
them the way a student might go wrong, and the checker must name that mistake.
"""

import pytest
from exercise_tools import ASSIGNMENTS, hidden_seed, inject, namespace_of, notebook, outcomes
from injections import ALL

from bnlib.checks import REGISTRY, MistakeFound, check, parts_for
from bnlib.checks.kinds import ValuePart
from bnlib.checks.plain import decode, encode

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


@pytest.mark.parametrize("grade_id", sorted(REGISTRY))
def test_cases_and_records_survive_the_trip_to_the_grader(grade_id, solutions):
    part = REGISTRY[grade_id]
    ns = namespace_of(solutions[part.assignment])
    for hidden in (False, True):
        cases = part.cases(hidden=hidden, seed=7)
        shipped = decode(encode(cases))  # a grading engine may send cases as plain data
        records = decode(encode(part.run(ns, shipped)))
        assert part.evaluate(cases, records).passed


@pytest.mark.parametrize("grade_id", sorted(g for g, p in REGISTRY.items()
                                            if type(p) is not ValuePart))
def test_hidden_cases_differ_from_visible_ones(grade_id):
    part = REGISTRY[grade_id]
    assert encode(part.cases(hidden=True, seed=3)) != encode(part.cases())
    assert encode(part.cases(hidden=True, seed=3)) == encode(part.cases(hidden=True, seed=3))


@pytest.mark.parametrize("grade_id", sorted(REGISTRY))
def test_a_missing_answer_is_named_not_a_crash(grade_id):
    part = REGISTRY[grade_id]
    cases = part.cases()
    verdict = part.evaluate(cases, part.run({}, cases))
    assert not verdict.passed and part.target in verdict.message


def test_a_hand_typed_list_counts_as_an_array(solutions):
    ns = namespace_of(solutions["ps1-forward"])
    ns["x_hat_A"] = [-1.342, -0.447, 0.447, 1.342]
    assert check("ps1_worked_examples", ns).passed
    ns["y_B"] = [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(MistakeFound, match=r"`y_B`: y_B must be gamma \* x_hat_A \+ beta"):
        check("ps1_worked_examples", ns)


def test_a_multiple_choice_test_cell_shows_only_the_format_check(capsys):
    assert check("ps5_q_eval_batch", {"answer_eval_batch": "a"}).passed
    assert "recorded" in capsys.readouterr().out
    with pytest.raises(MistakeFound, match="not right: in eval mode the layer does not"):
        check("ps5_q_eval_batch", {"answer_eval_batch": "a"}, hidden=True, seed=1)


def _visible_verdict(injection_name, solutions):
    injection = next(i for i in ALL if i.name == injection_name)
    ns = namespace_of(inject(solutions[injection.assignment], injection.edits))
    part = REGISTRY[injection.grade_id]
    cases = part.cases()
    return part.evaluate(cases, part.run(ns, cases))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0/0 in the unguarded answer
@pytest.mark.parametrize("name", ["ps2_rel_error-zero_not_guarded",
                                  "ps3_batchnorm1d-no_return_self"])
def test_the_visible_test_enforces_each_rule_the_notebook_states(name, solutions):
    verdict = _visible_verdict(name, solutions)
    assert not verdict.passed and verdict.mistake == name.split("-", 1)[1], verdict.message


def test_an_exception_in_the_students_function_shows_their_line(solutions):
    verdict = _visible_verdict("ps1_train_forward-raised", solutions)
    assert verdict.mistake == "raised"
    assert "IndexError" in verdict.message
    assert "in `batchnorm_forward`, line " in verdict.message
    assert "`y = gamma * x_hat + beta[:, 0]`" in verdict.message


@pytest.mark.parametrize("name", ["ps2_staged_backward-only_dx",
                                  "ps2_compact_backward-tuple_order"])
def test_a_wrong_return_shape_is_named_without_dumping_arrays(name, solutions):
    verdict = _visible_verdict(name, solutions)
    assert verdict.mistake == name.split("-", 1)[1]
    assert "array(" not in verdict.message and "(dx, dgamma, dbeta)" in verdict.message


def test_an_unrecognised_return_value_is_described_by_its_shape():
    import numpy as np

    from bnlib.checks.compare import describe_mismatch

    expected = (np.zeros((4, 3)), np.zeros(3), np.zeros(3))
    message = describe_mismatch("batchnorm_backward", np.ones((4, 3)) * 7, expected)
    assert "must return 3 values" in message and "array(" not in message
    assert "an array of shape (4, 3)" in message


def test_a_passing_test_cell_prints_one_line(solutions, capsys):
    ns = namespace_of(solutions["ps1-forward"])
    capsys.readouterr()
    check("ps1_train_forward", ns)
    assert capsys.readouterr().out.count("\n") == 1
    release = notebook("exercises", "ps1-forward")
    tests = [c for c in release["cells"] if "check(" in "".join(c["source"])]
    # The trailing ";" keeps IPython from also displaying the returned Outcome.
    assert tests and all("".join(c["source"]).rstrip().endswith(";") for c in tests)


def _explaining(part, cases, records):
    """Ids of every mistake of a plain part that explains the records on all cases."""
    from bnlib.checks.core import RAISED

    answers = [RAISED if rec.get("error") else
               (part.select(rec["out"]) if part.select else rec["out"]) for rec in records]
    return {m.id for m in part.matching(cases, answers)}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0/0 in an injected mistake
@pytest.mark.parametrize("injection", ALL, ids=lambda i: i.name)
def test_each_mistake_fires_only_on_its_own_slip(injection, solutions):
    """Visible and hidden: the only name given is the slip's own (wrong advice is worse than
    none), and for plain parts no other mistake explains the answer on every case."""
    from bnlib.checks.core import Part

    nb = solutions[injection.assignment]
    ns = namespace_of(inject(nb, injection.edits))
    part = REGISTRY[injection.grade_id]
    fired = []
    for hidden in (False, True):
        cases = part.cases(hidden=hidden, seed=hidden_seed(nb, part.grade_id) if hidden else None)
        records = part.run(ns, cases)
        verdict = part.evaluate(cases, records)
        if not verdict.passed:
            fired.append(verdict.mistake)
        if type(part) is Part and not any(r.get("error") for r in records):
            others = _explaining(part, cases, records) - {injection.mistake}
            assert not others, (others, "hidden" if hidden else "visible")
    assert fired and set(fired) == {injection.mistake}, fired


@pytest.mark.parametrize("assignment", BUILT)
def test_no_mistake_fires_on_the_solution(assignment, solutions):
    from bnlib.checks.core import Part

    nb = solutions[assignment]
    ns = namespace_of(nb)
    for part in parts_for(assignment):
        for hidden in (False, True):
            cases = part.cases(hidden=hidden, seed=hidden_seed(nb, part.grade_id) if hidden
                               else None)
            records = part.run(ns, cases)
            assert part.evaluate(cases, records).passed
            if type(part) is Part:
                assert not _explaining(part, cases, records), part.grade_id


def _kinds(part, case):
    """The kinds of input one case holds, as a student could trip on them."""
    import numpy as np

    from bnlib.checks.scenario import ScenarioPart

    found = set()
    if isinstance(part, ScenarioPart):
        _, kwargs, ops = case
        if "momentum" in kwargs:
            found.add("momentum=None" if kwargs["momentum"] is None else "momentum set")
        if kwargs.get("eps", 1e-5) != 1e-5:
            found.add("eps other than 1e-5")
        mode = "train"
        for op in ops:
            mode = {"eval": "eval", "train": "train"}.get(op[0], mode)
            if op[0] == "forward" and op[1].shape[0] == 1:
                found.add(f"batch of one in {mode}")
        return found
    for i, arg in enumerate(case):
        if arg is None:
            found.add(f"argument {i + 1} is None")
    if case and isinstance(case[-1], float) and 0 < case[-1] < 0.1 and case[-1] != 1e-5:
        found.add("eps other than 1e-5")  # eps is the last argument where there is one
        if isinstance(arg, list) and arg and isinstance(arg[0], dict):  # AdaBN's blocks
            if any(b["eps"] != 1e-5 for b in arg[:-1]):
                found.add("eps other than 1e-5 before the last block")
    if part.grade_id == "ps6_adabn":
        x, _, batch_size, _ = case
        found.add("incomplete last batch" if len(x) % batch_size else "whole batches")
        if batch_size == len(x):
            found.add("one batch")
    first = case[0] if case else None
    if isinstance(first, np.ndarray) and first.ndim >= 2 and first.shape[0] == 1:
        found.add("batch of one")
    return found


@pytest.mark.parametrize("grade_id", sorted(REGISTRY))
def test_visible_cases_hold_every_kind_of_input_the_hidden_ones_use(grade_id):
    """A green visible run means the hidden run cannot fail for a reason the student could
    have seen: no None, eps, momentum, batch layout or batch size only the hidden cases use."""
    part = REGISTRY[grade_id]
    visible = set().union(*(_kinds(part, c) for c in part.cases()))
    hidden = set()
    for seed in range(3):
        hidden |= set().union(*(_kinds(part, c) for c in part.cases(hidden=True, seed=seed)))
    assert hidden <= visible, hidden - visible


def test_a_green_backward_by_hand_says_what_it_checked(solutions, capsys, monkeypatch):
    """P1's values are grader material: the visible test checks what any right answer
    satisfies, and its green line says so (not only "recorded")."""
    ns = namespace_of(solutions["ps5-concepts"])
    monkeypatch.setattr(REGISTRY["ps5_backward_by_hand"], "reference", None)  # no key: a kernel
    capsys.readouterr()
    check("ps5_backward_by_hand", ns)
    out = capsys.readouterr().out
    assert "sum to 0" in out and "orthogonal" in out and "does not know the values" in out
    assert "recorded" not in out
