"""Float64 parity with PyTorch within 1e-10.

``tests/data/torch_golden.npz`` holds inputs and PyTorch's outputs, written by
``tests/torch_reference.py`` (run by hand with torch installed). These tests
need no torch. Where torch is installed, one more test compares live on fresh
inputs.
"""

import json
import pathlib

import numpy as np
import pytest
import torch_reference as ref

DATA = pathlib.Path(__file__).resolve().parent / "data"
GOLDEN = np.load(DATA / "torch_golden.npz")
META = json.loads((DATA / "torch_golden.json").read_text())
OURS = ref.bnlib_outputs(ref.unflatten_inputs(GOLDEN))


def test_fixtures_record_their_torch_version_and_cover_every_case():
    assert META["torch"].startswith("2.") and META["dtype"] == "float64"
    assert sorted(META["cases"]) == sorted(OURS)
    for needed in ("m01_y_train", "m01_dx_train", "m01_dgamma", "m01_dbeta", "m01_rv_4",
                   "cum_rm_4", "cum_nbt", "m01_y_eval", "bn2d_dx", "bn2d_rv", "bn2d_y_eval",
                   "fold_w", "fold_b", "untracked_y_eval", "ln_dx", "gn_dx", "rms_dx"):
        assert needed in OURS


@pytest.mark.parametrize("name", META["cases"])
def test_matches_pytorch_fixture(name):
    expected = GOLDEN[f"out:{name}"]
    assert OURS[name].shape == expected.shape
    np.testing.assert_allclose(OURS[name], expected, rtol=0, atol=1e-10)


def test_matches_live_pytorch_on_fresh_inputs():
    pytest.importorskip("torch", reason="torch not installed; the fixtures above still ran")
    inputs = ref.make_inputs(seed=20260)
    ours, theirs = ref.bnlib_outputs(inputs), ref.torch_outputs(inputs)
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=1e-10, err_msg=name)
