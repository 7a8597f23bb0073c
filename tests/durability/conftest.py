"""Fixtures for the durability tests: the same as tests/integration's
(tern, tern_factory), from tests/integration/tern_harness.py."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from tern_harness import tern, tern_factory  # noqa: E402,F401
