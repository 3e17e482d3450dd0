"""The helpers package installs whole: every folder of modules is a package that setuptools finds."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages

import helpers

ROOT = Path(__file__).resolve().parents[2]


def test_every_folder_of_modules_is_found_by_package_discovery():
    folders = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "helpers").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    found = set(find_packages(str(ROOT), include=["helpers*"]))
    assert folders <= found, f"not installed (no __init__.py?): {sorted(folders - found)}"


def test_short_names_reach_core_and_plumbing_modules():
    for name, band in helpers.SHORT_NAMES.items():
        assert getattr(helpers, name).__name__ == f"helpers.{band}.{name}"
