"""The checker contract: plain-data codec, verdicts, mistake names, tamper signs."""

import numpy as np
import pytest

import bnlib
from bnlib.checks import REGISTRY, MistakeFound, check
from bnlib.checks.plain import decode, encode, to_plain

PART = REGISTRY["ps1_train_forward"]


def correct(x, gamma, beta, eps):
    mu, var = x.mean(axis=0), x.var(axis=0)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, {"mu": mu}


def test_plain_codec_round_trips_arrays_tuples_and_scalars():
    data = [{"out": (np.arange(6.0).reshape(2, 3), 1.5, None), "n": np.int64(3), "ok": True}]
    back = decode(encode(data))
    np.testing.assert_array_equal(back[0]["out"][0], np.arange(6.0).reshape(2, 3))
    assert back[0]["out"][1:] == (1.5, None) and back[0]["n"] == 3 and back[0]["ok"] is True


def test_student_objects_do_not_survive_to_plain():
    class Rigged(float):
        def __eq__(self, other):
            return True

    class Anything:
        pass

    assert type(to_plain(Rigged(2.0))) is float
    assert to_plain(Anything()) == "<Anything>"
    assert to_plain(np.array(["a"])) == "<array of dtype <U1>"
    with pytest.raises(ValueError, match="refusing array"):
        decode('{"__ndarray__": "object", "shape": [1], "data": ""}')


def test_correct_answer_passes_on_visible_and_hidden_cases(capsys):
    check("ps1_train_forward", {"batchnorm_forward": correct})
    outcome = check("ps1_train_forward", {"batchnorm_forward": correct}, hidden=True, seed=9)
    assert outcome.passed and "passed" in capsys.readouterr().out


def test_hidden_cases_differ_from_visible_ones():
    visible, hidden = PART.cases(), PART.cases(hidden=True, seed=3)
    assert {c[0].shape for c in visible}.isdisjoint({c[0].shape for c in hidden})


def test_missing_function_is_reported_in_words():
    with pytest.raises(MistakeFound, match="define `batchnorm_forward`"):
        check("ps1_train_forward", {})


def test_exception_in_student_code_is_reported():
    def broken(x, gamma, beta, eps):
        raise KeyError("oops")

    with pytest.raises(MistakeFound, match="raised KeyError"):
        check("ps1_train_forward", {"batchnorm_forward": broken})


def test_calling_the_reference_is_detected():
    with pytest.raises(MistakeFound, match=r"calls bnlib's reference \(bnlib.batchnorm_forward\)"):
        check("ps1_train_forward", {"batchnorm_forward": bnlib.batchnorm_forward})


def test_unknown_wrong_answer_gets_a_located_message():
    def off(x, gamma, beta, eps):
        y, c = correct(x, gamma, beta, eps)
        y[1, 2] += 0.5
        return y, c

    with pytest.raises(MistakeFound, match=r"largest error 0.5 at index \(1, 2\)"):
        check("ps1_train_forward", {"batchnorm_forward": off})


def test_wrong_shape_is_named():
    def one_feature_short(x, gamma, beta, eps):
        return correct(x, gamma, beta, eps)[0][:, 1:]

    with pytest.raises(MistakeFound, match=r"has shape \(4, 2\); expected shape \(4, 3\)"):
        check("ps1_train_forward", {"batchnorm_forward": one_feature_short})


def test_mistake_message_replaces_the_traceback_in_ipython():
    err = MistakeFound("eps belongs inside the square root")
    assert err._render_traceback_() == [
        "\x1b[0;31mMistakeFound\x1b[0m: eps belongs inside the square root"]
    # a long message: lines broken at spaces, never inside a word
    words = ("every line of this message is short and breaks at a space " * 4).split()
    lines = MistakeFound(" ".join(words))._render_traceback_()
    assert len(lines) > 1 and all(len(ln) <= 80 + 11 for ln in lines)  # + the colour codes
    assert " ".join(ln.replace("\x1b[0;31m", "").replace("\x1b[0m", "") for ln in lines) \
        == "MistakeFound: " + " ".join(words)


def test_records_survive_the_trip_to_the_grader():
    cases = PART.cases(hidden=True, seed=4)
    records = decode(encode(PART.run({"batchnorm_forward": correct}, cases)))
    assert PART.evaluate(cases, records).passed


# -- messages a student can read (issue 22, item 3) -------------------------------------------

def _readable(message):
    """The rules every message follows; returns the broken ones."""
    import re

    broken = []
    if any(len(token) > 40 for token in message.split()):
        broken.append("a token longer than 40 characters (it cannot wrap at a space)")
    if len(message) > 600:
        broken.append("longer than 600 characters")
    for bad, why in (("#1", "a number for an output"), ("return value #", "a number for an output"),
                     ("array(", "a dumped array"), (",,", "a doubled comma"),
                     ("got None", "None instead of words")):
        if bad in message:
            broken.append(why)
    if re.search(r":\s*\(in ", message) or message.rstrip().endswith(":"):
        broken.append("a dangling colon")
    if not message.rstrip().endswith((".", ")", "`")):
        broken.append("not a finished sentence")
    return broken


def _plain_parts():
    from bnlib.checks.core import Part

    return [p for p in REGISTRY.values() if type(p) is Part]


@pytest.mark.parametrize("grade_id", sorted(REGISTRY))
def test_every_named_mistakes_message_is_readable(grade_id):
    part = REGISTRY[grade_id]
    messages = [m.message for m in part.mistakes + getattr(part, "rule_mistakes", [])]
    messages += list((getattr(part, "explain", None) or {}).values())
    for message in messages:
        assert not _readable(message), (message, _readable(message))


def _verdict(part, outs):
    from bnlib.checks.plain import to_plain

    cases = part.cases()
    records = [{"out": to_plain(o), "args_after": to_plain(c), "error": None,
                "used_reference": []} for c, o in zip(cases, outs)]
    return part.evaluate(cases, records)


@pytest.mark.parametrize("grade_id", sorted(p.grade_id for p in _plain_parts()))
def test_generic_messages_are_readable_and_say_what_happened(grade_id):
    part = REGISTRY[grade_id]
    cases = part.cases()
    right = [part.reference(*c) for c in cases]
    stub = part.evaluate(cases, [{"error": "NotImplementedError", "used_reference": []}
                                 for _ in cases])
    assert stub.mistake == "not_attempted" and "not written yet" in stub.message
    nothing = _verdict(part, [None] * len(cases))
    assert nothing.mistake == "no_return" and "return" in nothing.message
    verdicts = [stub, nothing]
    from bnlib.checks.compare import same
    from bnlib.checks.plain import to_plain

    if isinstance(right[0], tuple) and len(right[0]) > 1 and part.select is None \
            and not same(to_plain(tuple(reversed(right[0]))), to_plain(right[0]), 1e-6, 1e-8):
        swapped = _verdict(part, [tuple(reversed(r)) for r in right])
        assert "order" in swapped.message, swapped.message
        verdicts.append(swapped)
        if part.outputs:
            off = [tuple(np.asarray(v) * 1.5 + 1.0 if i == len(r) - 1 else v
                         for i, v in enumerate(r)) for r in right]
            verdict = _verdict(part, off)
            assert f"`{part.outputs[-1]}`" in verdict.message, verdict.message
            verdicts.append(verdict)
    for verdict in verdicts:
        assert not _readable(verdict.message), (verdict.message, _readable(verdict.message))


def test_a_nested_answer_says_where_it_differs():
    part = REGISTRY["ps6_adabn"]
    cases = part.cases()
    outs = [part.reference(*c) for c in cases]
    outs[0] = [tuple(a.copy() for a in block) for block in outs[0]]
    outs[0][1][1][1] += 0.05  # block 2, running_var, channel 1
    verdict = _verdict(part, outs)
    assert "block 2, `running_var`" in verdict.message and "at index 1" in verdict.message
    assert not _readable(verdict.message), verdict.message


def test_two_numbers_shown_side_by_side_always_differ():
    from bnlib.checks.compare import locate

    got, expected = np.array([1.0, 2.0000001]), np.array([1.0, 2.0])
    message = locate("`y`", got, expected)
    shown = message.split("(got ")[1].rstrip(").").split(", expected ")
    assert shown[0] != shown[1], message
