"""Shared fixtures and hypothesis settings."""

import numpy as np
import pytest
from hypothesis import settings

# Deterministic property tests: the same examples on every machine and run.
settings.register_profile("course", derandomize=True, max_examples=60, deadline=None)
settings.load_profile("course")

# An eps that vanishes when added to any variance of order one in float64
# (5 + 1e-300 == 5), so the worked examples, stated for eps = 0, are exact.
# bnlib refuses eps = 0 itself, as the issue asks.
TINY_EPS = 1e-300


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def server():
    """The built site, served on 127.0.0.1 (``make book`` builds it)."""
    from builtsite import LocalServer, built_site

    with LocalServer(built_site()) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser is downloaded)."""
    from builtsite import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
