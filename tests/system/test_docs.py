"""The reference in docs/ is complete: every page and section cited anywhere exists.

Code, help texts, tests, bench scripts and the top-level documents cite the contract as
``docs/<page>.md`` or ``docs/<page>.md §N`` (also ``§N-M``); inside docs/ pages cite each
other as ``<page>.md §N``. A citation of a missing page or section, a link to a missing
file, or a mention of the old external contract fails here, naming file and line.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCANNED_DIRS = ("ubm", "tests", "bench", "sql", "docs", ".ci")
SCANNED_FILES = ("README.md", "BENCHMARKS.md", "Makefile", "pyproject.toml")
TEXT_SUFFIXES = {".py", ".sql", ".md", ".sh", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ""}

# Built from pieces so that this file does not match its own patterns.
OLD_NAME = "SP" + "EC"
FORBIDDEN = {
    "the old contract's name": re.compile(r"\b" + OLD_NAME + r"\b"),
    "a path outside the repository": re.compile(re.escape(".." + "/shared") + "|" + re.escape("/work" + "/shared")),
}

SECTION_HEADING = re.compile(r"^## §(\d+)\b", re.MULTILINE)
RANGE = r"(?:\s*§(\d+)(?:\s*[-–]\s*§?(\d+))?)?"
DOCS_REF = re.compile(r"\bdocs/([A-Za-z0-9_-]+\.md)" + RANGE)
SIBLING_REF = re.compile(r"(?<![/\w])([a-z0-9_-]+\.md)" + RANGE)  # inside docs/: "tasks.md §3"
MD_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
CODE_PATH = re.compile(r"`((?:ubm|sql|tests|bench)/[A-Za-z0-9_./-]*)`")


def scanned_files() -> list[Path]:
    files = [ROOT / name for name in SCANNED_FILES if (ROOT / name).is_file()]
    for top in SCANNED_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in TEXT_SUFFIXES \
                    and path.stat().st_size < 1_000_000:
                files.append(path)
    return files


@lru_cache(maxsize=None)
def sections(page: str) -> tuple[int, ...]:
    path = DOCS / page
    if not path.is_file():
        return ()
    return tuple(int(n) for n in SECTION_HEADING.findall(path.read_text(encoding="utf-8")))


def lines_of(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return []
    return list(enumerate(text.splitlines(), start=1))


def check_reference(page: str, first: str | None, last: str | None) -> str | None:
    """None if ``page`` (§first[-last]) exists, else what is missing."""
    if not (DOCS / page).is_file():
        return f"docs/{page} does not exist"
    if first is None:
        return None
    wanted = range(int(first), int(last or first) + 1)
    missing = [n for n in wanted if n not in sections(page)]
    if missing or not wanted:
        return f"docs/{page} has no section §{first}{'-' + last if last else ''} (it has §{list(sections(page))})"
    return None


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_the_reference_exists_and_its_index_lists_every_page() -> None:
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    for page in ("README.md", "data.md", "split.md", "tasks.md", "entry.md", "baseline.md",
                 "evaluation.md", "differences.md"):
        assert page in pages, f"docs/{page} is missing"
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = set(MD_LINK.findall(index))
    unlisted = [p for p in pages if p != "README.md" and p not in linked]
    assert not unlisted, f"docs/README.md does not link to: {', '.join(unlisted)}"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md"))
def test_sections_are_numbered_one_to_n(page: str) -> None:
    numbers = list(sections(page))
    assert numbers == list(range(1, len(numbers) + 1)) and numbers, \
        f"docs/{page}: sections must be '## §1 ...', '## §2 ...' in order, found {numbers}"


def test_every_cited_page_and_section_exists() -> None:
    problems = []
    count = 0
    for path in scanned_files():
        in_docs = path.parent == DOCS
        for line_no, line in lines_of(path):
            refs = list(DOCS_REF.findall(line))
            if in_docs:
                refs += SIBLING_REF.findall(line)
            for page, first, last in refs:
                count += 1
                problem = check_reference(page, first or None, last or None)
                if problem:
                    problems.append(f"{where(path, line_no)}: {problem}")
    assert count > 50, f"only {count} citations found: is the scan looking in the right place?"
    assert not problems, "\n".join(problems)


def test_links_and_code_paths_in_docs_point_at_files_in_the_repository() -> None:
    problems = []
    for path in sorted(DOCS.glob("*.md")):
        for line_no, line in lines_of(path):
            for target in MD_LINK.findall(line):
                if "://" in target:
                    continue
                resolved = (path.parent / target).resolve()
                if not resolved.is_relative_to(ROOT) or not resolved.exists():
                    problems.append(f"{where(path, line_no)}: link to missing {target}")
            for code_path in CODE_PATH.findall(line):
                if not (ROOT / code_path).exists():
                    problems.append(f"{where(path, line_no)}: `{code_path}` is not in the repository")
    assert not problems, "\n".join(problems)


def test_nothing_mentions_the_old_contract_or_points_outside_the_repository() -> None:
    problems = [f"{where(path, line_no)}: {what}: {line.strip()}"
                for path in scanned_files()
                for line_no, line in lines_of(path)
                for what, pattern in FORBIDDEN.items() if pattern.search(line)]
    assert not problems, "\n".join(problems)


def test_the_checker_itself_catches_bad_citations() -> None:
    assert check_reference("evaluation.md", "3", None) is None
    assert check_reference("evaluation.md", "1", "2") is None
    assert "no section §9" in check_reference("evaluation.md", "9", None)
    assert "no section §3-9" in check_reference("evaluation.md", "3", "9")
    assert "does not exist" in check_reference("nowhere.md", None, None)
    assert DOCS_REF.findall("see docs/tasks.md §3-4 and docs/data.md") == [("tasks.md", "3", "4"), ("data.md", "", "")]
    assert FORBIDDEN["the old contract's name"].search("as " + OLD_NAME + " §4 says")
    assert not FORBIDDEN["the old contract's name"].search("SPECIAL")


@pytest.mark.parametrize("module", ["ubm.cli", "ubm.sql_cli"])
def test_help_says_where_to_read_more(module: str) -> None:
    main = __import__(module, fromlist=["main"]).main
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    cited = DOCS_REF.findall(result.output)
    assert ("README.md", "", "") in cited, result.output
    assert all(check_reference(page, first or None, last or None) is None for page, first, last in cited)


def _commands(group, prefix: str) -> list[tuple[str, object]]:
    return [(f"{prefix} {name}", cmd) for name, cmd in sorted(group.commands.items())]


def _section_of(text: str, heading: str) -> str:
    parts = re.split(r"^## ", text, flags=re.MULTILINE)
    return next((p for p in parts if p.startswith(heading)), "")


def _bullet_of(section: str, full: str) -> str:
    """The bullet of a section that describes one command: from '* `ubm name' to the next bullet."""
    found = re.search(rf"^\* `{re.escape(full)}\b.*?(?=^\* |^\S|\Z)", section, re.MULTILINE | re.DOTALL)
    return found.group(0) if found else ""


def test_every_command_and_option_is_in_the_command_reference() -> None:
    """docs/commands.md cannot drift from the command line: each command is named there with
    every one of its long options, in its own section (ubm in §1, ubm-sql in §2)."""
    from ubm.cli import main as ubm_main
    from ubm.sql_cli import main as sql_main

    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    shared = _section_of(text, "§3")
    problems = []
    for group, prefix, section in ((ubm_main, "ubm", "§1"), (sql_main, "ubm-sql", "§2")):
        body = _section_of(text, section)
        for full, cmd in _commands(group, prefix):
            bullet = _bullet_of(body, full)
            if not bullet:
                problems.append(f"docs/commands.md {section}: no bullet '* `{full} ...`'")
                continue
            for param in cmd.params:
                for opt in (o for o in param.opts if o.startswith("--")):
                    if not re.search(rf"{re.escape(opt)}\b", bullet) and opt not in shared:
                        problems.append(f"docs/commands.md: `{full}` option {opt} is not described")
    assert not problems, "\n".join(problems)


def test_the_readme_is_short_enough_for_a_newcomer() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; reference goes to docs/, figures to BENCHMARKS.md"
    assert "make demo" in "\n".join(lines) and "make test" in "\n".join(lines)


def test_the_layout_table_in_data_md_is_the_layout_module() -> None:
    from ubm.layout import LAYOUT

    section = _section_of((DOCS / "data.md").read_text(encoding="utf-8"), "§3")
    rows = [tuple(cell.strip().strip("`") for cell in line.strip().strip("|").split("|"))
            for line in section.splitlines() if line.startswith("| `")]
    assert rows == [tuple(row) for row in LAYOUT], "docs/data.md §3's table differs from ubm.layout.LAYOUT"
