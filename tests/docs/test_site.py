"""The docs site builds with no broken link, anchor or orphan page; the README's links resolve.

``mkdocs build --strict`` with mkdocs.yml's ``validation:`` (every check a
warning, so --strict fails on it) does the site. The README is not part of the
site: its relative links are checked here, those into docs/ against the built
site's anchors, the others against the files of the repository and, for
Markdown, their headings as GitHub makes anchors of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import ROOT, documentation_files, read_blocks

pytestmark = pytest.mark.chart

LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)\)")
FENCED = re.compile(r"^\s*(```|~~~).*?^\s*\1", re.M | re.S)


def build(site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = build(out)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stderr}"
    return out


def test_the_site_builds_strictly(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "chart-values" / "index.html").is_file(), "the chart README is not in the site"
    assert (site / "bench-report" / "index.html").is_file(), "the bench report is not in the site"


def github_anchors(markdown: str) -> set[str]:
    """The ids GitHub gives a file's headings (lower case, punctuation dropped, - for spaces)."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", FENCED.sub("", markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def site_anchors(site: Path, page: str) -> set[str] | None:
    html = site / ("index.html" if page == "index.md" else f"{page.removesuffix('.md')}/index.html")
    return set(re.findall(r'id="([^"]+)"', html.read_text())) if html.exists() else None


def readme_links() -> list[str]:
    text = FENCED.sub("", (ROOT / "README.md").read_text())
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t)]


def test_readme_links_resolve(site: Path) -> None:
    links = readme_links()
    assert any(t.startswith("docs/") for t in links), "the README links into docs/ nowhere"
    broken = []
    for target in links:
        path, _, anchor = target.partition("#")
        file = (ROOT / path) if path else ROOT / "README.md"
        if not file.exists():
            broken.append(f"{target}: no such file")
            continue
        if not anchor:
            continue
        if path.startswith("docs/") and path.endswith(".md"):
            anchors = site_anchors(site, path.removeprefix("docs/"))
            if anchors is None:
                broken.append(f"{target}: not a page of the site")
                continue
        else:
            anchors = github_anchors(file.read_text())
        if anchor not in anchors:
            broken.append(f"{target}: no anchor #{anchor}")
    assert not broken, "README links that do not resolve:\n" + "\n".join(broken)


def test_every_code_block_says_what_it_is() -> None:
    """A block without a language would escape the examples test silently."""
    untagged = [b.where for p in documentation_files() for b in read_blocks(p) if not b.lang]
    assert not untagged, f"fenced blocks without a language: {untagged}"


def test_a_broken_link_or_an_orphan_page_fails_the_build(tmp_path: Path) -> None:
    """The strict build is a real check: a copy of the docs with a bad anchor and a page
    left out of the nav fails, naming both."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in (ROOT / "docs").rglob("*.md"):
        target = docs / page.relative_to(ROOT / "docs")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page.read_text())
    api = docs / "api.md"
    api.write_text(api.read_text() + "\nSee [nowhere](limits.md#no-such-anchor).\n")
    (docs / "orphan.md").write_text("# Not in the nav\n")
    config = (ROOT / "mkdocs.yml").read_text().replace("docs_dir: docs", f"docs_dir: {docs}")
    config = config.replace("scripts/docs_hooks.py", str(ROOT / "scripts" / "docs_hooks.py"))
    (tmp_path / "mkdocs.yml").write_text(config)
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(tmp_path / "mkdocs.yml")],
        cwd=tmp_path,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "no-such-anchor" in result.stderr
    assert "orphan.md" in result.stderr
    assert "not_in_nav" not in (ROOT / "mkdocs.yml").read_text(), "pages must not be hidden"


def test_the_readme_stays_a_front_door() -> None:
    """The manual lives in docs/; the README pitches, shows one session and links."""
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= 200, f"README.md has {lines} lines: move the detail into docs/"
