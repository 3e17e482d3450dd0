"""The files an instructor adopting the course looks for: licences, citation, the data page.

``data/README.md`` must name every dataset loader the helpers offer, so a loader added without its
licence and citation fails here.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from helpers.core import data

ROOT = Path(__file__).resolve().parents[2]
NOT_LOADERS = {"cache_dir", "cifar10_files", "register_task"}  # helpers around the loaders


def test_code_and_content_licences_exist() -> None:
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    content = (ROOT / "LICENSE-CONTENT.md").read_text()
    assert "CC BY 4.0" in content and "creativecommons.org/licenses/by/4.0" in content


def test_citation_file_has_the_required_fields() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors"):
        assert cff.get(key), f"CITATION.cff lacks {key!r}"
    assert all("name" in a or "family-names" in a for a in cff["authors"])


def test_data_page_names_every_loader_with_licence_and_citation() -> None:
    page = (ROOT / "data" / "README.md").read_text()
    loaders = [
        name
        for name in data.__all__
        if callable(getattr(data, name))
        and not isinstance(getattr(data, name), type)
        and name not in NOT_LOADERS
    ]
    assert {"mnist1d", "digits", "pydoc_corpus", "cifar10", "make_task"} <= set(loaders)
    for loader in loaders:
        assert f"helpers.core.data.{loader}" in page, f"data/README.md does not describe {loader}"
    for heading in ("licence", "cite", "size"):
        assert heading in page
