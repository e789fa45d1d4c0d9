"""Licences and releases: LICENSE exists, CITATION.cff is CFF 1.2.0 with its required keys, and the version in
pyproject.toml, CITATION.cff and CHANGELOG.md agree (docs/releasing.md, step 5)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import yaml

from utils import ROOT

CFF_REQUIRED = ("cff-version", "message", "title", "authors")  # CFF 1.2.0's schema: "required"
RELEASE_HEADING = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", re.M)


def pyproject_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^version\s*=\s*"([^"]+)"', project, re.M).group(1)


@pytest.fixture(scope="module")
def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def changelog() -> str:
    return (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_license_is_mit_as_pyproject_says():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text
    assert re.search(r'^license\s*=\s*\{\s*text\s*=\s*"MIT"\s*\}', (ROOT / "pyproject.toml").read_text(), re.M)


def test_citation_has_the_keys_cff_requires(citation):
    missing = [key for key in CFF_REQUIRED if key not in citation]
    assert not missing, f"CITATION.cff lacks {missing}"
    assert citation["cff-version"] == "1.2.0"
    assert isinstance(citation["message"], str) and citation["message"].strip()
    assert isinstance(citation["title"], str) and citation["title"].strip()
    authors = citation["authors"]
    assert isinstance(authors, list) and authors
    for author in authors:  # a person has family-names, an entity a name
        assert isinstance(author, dict) and (author.get("name") or author.get("family-names")), author


def test_citation_dates_and_licences_are_well_formed(citation):
    assert isinstance(citation["date-released"], dt.date), "date-released must be a YAML date (YYYY-MM-DD)"
    assert set(citation["license"]) <= {"MIT", "CC-BY-4.0"}, "SPDX ids of the course's own licences"


def test_version_agrees_across_pyproject_citation_and_changelog(citation, changelog):
    releases = RELEASE_HEADING.findall(changelog)
    assert releases, "CHANGELOG.md has no '## [X.Y.Z] - YYYY-MM-DD' release heading"
    newest_version, newest_date = releases[0]
    assert pyproject_version() == str(citation["version"]) == newest_version, (
        f"pyproject.toml {pyproject_version()}, CITATION.cff {citation['version']}, CHANGELOG.md {newest_version}")
    assert citation["date-released"].isoformat() == newest_date


def test_changelog_opens_with_unreleased_then_releases_newest_first(changelog):
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.M)
    assert headings[0] == "Unreleased"
    versions = [tuple(int(part) for part in v.split(".")) for v, _ in RELEASE_HEADING.findall(changelog)]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    assert len(versions) == len(headings) - 1, "every heading but Unreleased is '## [X.Y.Z] - YYYY-MM-DD'"


def test_data_licence_counts_the_names_taken_from_pycountry():
    """data/LICENSE.md says how many names came from pycountry (LGPL-2.1); the committed facts say the same."""
    facts = [json.loads(line) for line in (ROOT / "data/corpus/facts.jsonl").read_text().splitlines()]
    names = {rel: len({f["answer"] for f in facts if f["relation"] == rel}) for rel in ("currency", "language")}
    notice = (ROOT / "data/LICENSE.md").read_text(encoding="utf-8")
    assert f"{names['currency']} currency names" in notice and f"{names['language']} language names" in notice
    assert f"The {names['currency'] + names['language']} currency and language names" in notice
    lgpl = (ROOT / "LICENSES/LGPL-2.1.txt").read_text(encoding="utf-8")
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in lgpl and "Version 2.1, February 1999" in lgpl
