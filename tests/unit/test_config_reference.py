"""docs/config.md is generated from the keyword tables and must not go stale."""

from __future__ import annotations

from pathlib import Path

from fastvrrp.config.keywords import BLOCKS, NOT_YET
from fastvrrp.config.reference import render_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_config_reference_is_current() -> None:
    assert DOC.read_text() == render_reference(), (
        "docs/config.md is stale: run `python -m fastvrrp.config.reference --write`")


def test_every_keyword_has_a_status_and_supported_ones_have_a_handler() -> None:
    for block in BLOCKS.values():
        for kw in block.keywords.values():
            assert kw.status in ("supported", "not supported yet", "deprecated alias")
            if kw.status != NOT_YET:
                assert kw.handler is not None, f"{block.name}.{kw.name}"
                assert kw.doc, f"{block.name}.{kw.name} has no description"
