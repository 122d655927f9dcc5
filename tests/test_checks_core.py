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


def test_records_survive_the_trip_to_the_grader():
    cases = PART.cases(hidden=True, seed=4)
    records = decode(encode(PART.run({"batchnorm_forward": correct}, cases)))
    assert PART.evaluate(cases, records).passed
