"""Shared fixtures and hypothesis settings."""

import os
import tempfile

import numpy as np
import pytest
from hypothesis import settings

from bngrade.worker import keys

# The tests judge as the grader does: with the answer keys, which the package students
# install does not have (tests/test_attacks.py checks that it does not).
keys.install()

# Deterministic property tests: the same examples on every machine and run.
settings.register_profile("course", derandomize=True, max_examples=60, deadline=None)
settings.load_profile("course")

# The gradebook's HMAC key (bngrade.driver.integrity): one throw-away key for the session, outside
# every test course, so the tests never touch the grading user's own key. Commands the tests
# start inherit it.
os.environ.setdefault("BNGRADE_KEY_FILE", os.path.join(
    tempfile.mkdtemp(prefix="bngrade-key-"), "gradebook.key"))

# An eps that vanishes when added to any variance of order one in float64
# (5 + 1e-300 == 5), so the worked examples, stated for eps = 0, are exact.
# bnlib refuses eps = 0 itself, as the issue asks.
TINY_EPS = 1e-300


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# The built site in Chromium (test_browser.py, test_accessibility.py): one
# server and one browser per test module, a fresh context per test.
@pytest.fixture(scope="module")
def server():
    from builtsite import LocalServer, built_site

    with LocalServer(built_site()) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    from builtsite import launch_browser
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_browser(p)
        yield b
        b.close()


@pytest.fixture
def visit(browser, server):
    from builtsite import Visit

    v = Visit(browser, server)
    yield v
    v.close()


@pytest.fixture(scope="session")
def tmp_venv(tmp_path_factory):
    """A venv under /tmp whose bnlib and bngrade are installed, not editable (the README's
    worker install): :func:`venvs.installed_venv`. Built once for the attack tests."""
    from venvs import installed_venv

    return installed_venv(tmp_path_factory.mktemp("venv-under-tmp"))
