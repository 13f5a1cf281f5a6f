"""The documents stay honest: every path they name exists, every link lands, every reference page
is linked from the README, and the configuration table is the one the code generates.

Paths are checked in README.md, RELIABILITY.md, BENCHMARKS.md, ops/RUNBOOK.md and docs/*.md: a
backticked or plain ``worker/...``, ``webhook/...``, ``ops/...``, ``tests/...``, ``docs/...`` or
``.ci/...`` (a module may be named without its ``.py``). A section that records history (figures
of an old run, the code as it was then) says so with ``<!-- history: why -->`` on the line after
its heading, and its paths are not checked. Links (``[text](target#anchor)``) are checked
everywhere, anchors against the target's headings as GitHub spells them. The code snippets are
run by tests/integration/test_doc_snippets.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from worker.config import settings_table_markdown
from worker.records.view import PUBLIC_FIELDS
from worker.states import State

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([*(ROOT / name for name in ("README.md", "RELIABILITY.md", "BENCHMARKS.md", "ops/RUNBOOK.md")),
                *(ROOT / "docs").glob("*.md")])
# Rewritten by other work of this round; their paths are checked once that lands (issue 21).
PATHS_NOT_YET_CHECKED = {"docs/architecture.md", "docs/provider-api.md", "docs/provider-routes.md"}
# The reference pages the README's "Read on" table must link.
REFERENCE_PAGES = ["docs/sending.md", "docs/verify.md", "docs/http-api.md", "docs/routes.md",
                   "docs/configuration.md", "docs/security.md", "docs/operating.md", "docs/auth-servers.md",
                   "docs/pumping.md", "docs/guard-operations.md",
                   "ops/RUNBOOK.md",
                   "docs/architecture.md", "docs/contract.md", "RELIABILITY.md", "BENCHMARKS.md"]

HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")
HISTORY = re.compile(r"^<!-- history: .+ -->$")
PATH = re.compile(r"(?<![\w/.\-])((?:worker|webhook|ops|tests|docs|\.ci)/[A-Za-z0-9_./\-]*[A-Za-z0-9_/])")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def prose(text: str) -> list[tuple[int, str]]:
    """(line number, line) of ``text`` outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def current_lines(text: str) -> list[tuple[int, str]]:
    """The prose lines outside sections marked as history."""
    lines = prose(text)
    kept, history_level = [], 0
    for index, (number, line) in enumerate(lines):
        heading = HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            if history_level and level > history_level:
                continue
            following = next((ln for _, ln in lines[index + 1:] if ln.strip()), "")
            history_level = level if HISTORY.match(following.strip()) else 0
        if not history_level:
            kept.append((number, line))
    return kept


def exists(path: str) -> bool:
    target = ROOT / path.rstrip("./")
    return target.exists() or target.with_suffix(target.suffix + ".py").exists()


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(m.group(2)) for _, line in prose(page.read_text(encoding="utf-8"))
            if (m := HEADING.match(line))}


@pytest.mark.parametrize("page", [p for p in PAGES if rel(p) not in PATHS_NOT_YET_CHECKED], ids=rel)
def test_every_path_a_page_names_exists(page: Path) -> None:
    missing = [f"{rel(page)}:{number}: {path}"
               for number, line in current_lines(page.read_text(encoding="utf-8"))
               for path in PATH.findall(line) if not exists(path)]
    assert not missing, "paths that do not exist (fix them, or mark the section <!-- history: ... -->):\n" + \
        "\n".join(missing)


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_link_lands_inside_the_repository(page: Path) -> None:
    broken = []
    for number, line in prose(page.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):
                continue  # a URL
            path, _, anchor = target.partition("#")
            landing = (page.parent / path).resolve() if path else page
            if not landing.is_relative_to(ROOT) or not landing.exists():
                broken.append(f"{rel(page)}:{number}: {target} (no such file in the repository)")
            elif anchor and landing.suffix == ".md" and anchor not in anchors(landing):
                broken.append(f"{rel(page)}:{number}: {target} (no heading #{anchor})")
    assert not broken, "\n".join(broken)


def test_the_readme_links_every_reference_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(readme)}
    assert [page for page in REFERENCE_PAGES if (ROOT / page).resolve() not in linked] == []
    assert {rel(p) for p in (ROOT / "docs").glob("*.md")} <= set(REFERENCE_PAGES) | {
        "docs/provider-api.md", "docs/provider-routes.md"}, "a new page under docs/: link it from the README"


def test_no_page_points_outside_the_repository() -> None:
    """The documents explain themselves: nothing refers to files beside the repository."""
    outside = [f"{rel(page)}:{number}" for page in PAGES
               for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
               if re.search(r"\.\./shared|/work/", line)]
    assert outside == []


def test_the_configuration_table_is_generated() -> None:
    """docs/configuration.md's table is exactly ``python -m worker.config --markdown``."""
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = "".join(line + "\n" for line in page.split("\n## ", 1)[0].splitlines() if line.startswith("|"))
    assert table == settings_table_markdown(), "regenerate it: python -m worker.config --markdown"


def test_the_record_and_its_states_are_all_described() -> None:
    """docs/sending.md names every field `pinrelay status` prints and every state, in its table."""
    page = (ROOT / "docs" / "sending.md").read_text(encoding="utf-8")
    section = page.split("\n## Records and states\n", 1)[1].split("\n## ", 1)[0]
    fields_part, _, table = section.partition("| state | meaning |")
    assert [f for f in PUBLIC_FIELDS if f"`{f}`" not in fields_part] == []
    described = {name for row in table.splitlines() if row.startswith("| `")
                 for name in re.findall(r"`([a-z_]+)`", row.split(" | ")[0])}
    assert described == {str(state) for state in State}


def test_the_path_check_can_fail() -> None:
    """The checks above find what they are for."""
    text = "## Now\n\nsee `worker/nothing_here.py` and docs/none.md\n\n## Then\n<!-- history: old -->\n" \
           "`worker/gone.py`\n### Detail\n`worker/also_gone.py`\n## Again\nworker/config\n"
    found = [p for _, line in current_lines(text) for p in PATH.findall(line)]
    assert found == ["worker/nothing_here.py", "docs/none.md", "worker/config"]
    assert [exists(p) for p in found] == [False, False, True]
    assert slug("Why `unconfirmed` and not a retry") == "why-unconfirmed-and-not-a-retry"
    assert slug("Round 2: hostile input and faults") == "round-2-hostile-input-and-faults"
