"""Documents named in the code, and links in the Markdown, point to files that exist in the repo.

Three checks, each a function run on the repo and, in the unit tests below, on a small tree in
``tmp_path`` with missing documents, so the checks are shown to fail on a bad reference:

- :func:`code_references`: docstrings and comments of the Python files in ``CODE_DIRS`` that name
  a Markdown document — a path such as ``docs/protocol.md`` (from the repo root or from the file's
  folder) or a bare name such as ``README.md`` (any Markdown file of that exact name in the repo).
  Only docstrings and comments count: a string a program uses as data is not a reference.
- :func:`markdown_links`: relative links ``[text](path)`` and images ``![alt](path)`` in
  ``README.md`` and ``docs/**/*.md``, resolved from the Markdown file's folder.  Links with a
  scheme (``https:``, ``mailto:``) and bare anchors are skipped, as is everything in code.
- :func:`markdown_names`: document names in the text of those Markdown files (a path, or a bare
  name such as ``README.md``), link targets left to the check above.

A target outside the repo (``../…``) is a problem too: users of the project have only the repo.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("cashier", "sync", "processing", "ui", "tests", "bench", "tools")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "build", "dist"}

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_DOC_NAME = re.compile(r"(?<![\w./\-])((?:\.{1,2}/)*(?:[\w.\-]+/)*[\w\-][\w.\-]*\.md)\b")
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
_LINK_TARGET = re.compile(r"\]\([^)\n]*\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class Problem:
    where: str
    """``path:line`` of the reference, relative to the root."""
    target: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.target} ({self.reason})"


def _walk(root: Path, pattern: str) -> list[Path]:
    found = []
    for path in sorted(root.rglob(pattern)):
        parts = path.relative_to(root).parts
        if any(p in SKIP_DIRS or p.endswith(".egg-info") for p in parts[:-1]):
            continue
        if path.is_file():
            found.append(path)
    return found


def _markdown_files(root: Path) -> set[str]:
    """Every Markdown file in the tree, as a path relative to the root (POSIX)."""
    return {p.relative_to(root).as_posix() for p in _walk(root, "*.md")}


def _inside(root: Path, target: Path) -> bool:
    try:
        target.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _exists_exactly(root: Path, target: Path) -> bool:
    """``target`` exists under ``root`` with exactly this spelling (also on case-blind disks)."""
    if not _inside(root, target) or not target.exists():
        return False
    relative = target.resolve().relative_to(root.resolve())
    here = root.resolve()
    for part in relative.parts:
        if part not in {child.name for child in here.iterdir()}:
            return False
        here = here / part
    return True


def _commented_text(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and every docstring-like string in Python ``source``:
    module, class and function docstrings, and string statements (attribute docstrings)."""
    out: list[tuple[int, str]] = []
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    out.extend((tok.start[0], tok.string) for tok in tokens if tok.type == tokenize.COMMENT)
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            out.append((node.lineno, node.value.value))
    return out


def _names_in(text: str) -> list[tuple[int, str]]:
    """(line offset, name) of every Markdown document named in ``text``, URLs left out."""
    found = []
    for offset, line in enumerate(text.splitlines()):
        for match in _DOC_NAME.finditer(_URL.sub(" ", line)):
            found.append((offset, match.group(1)))
    return found


def _missing(root: Path, name: str, folder: Path, basenames: set[str]) -> str | None:
    """Why the document ``name``, named in a file in ``folder``, is missing (None: it exists).
    A path is read from the root or from ``folder``; a bare name matches any document so named."""
    if "/" not in name:
        return None if name in basenames else "no such document in the repo"
    if not _inside(root, root / name):
        return "outside the repo"
    if any(_exists_exactly(root, c) for c in (root / name, folder / name)):
        return None
    return "no such document in the repo"


def code_references(root: Path, dirs: tuple[str, ...] = CODE_DIRS) -> list[Problem]:
    """Documents named in docstrings and comments under ``root/dirs`` that do not exist."""
    basenames = {Path(d).name for d in _markdown_files(root)}
    problems = []
    for top in dirs:
        if not (root / top).is_dir():
            continue
        for path in _walk(root / top, "*.py"):
            source = path.read_text(encoding="utf-8")
            where_file = path.relative_to(root).as_posix()
            for line, text in _commented_text(source):
                for offset, name in _names_in(text):
                    reason = _missing(root, name, path.parent, basenames)
                    if reason:
                        problems.append(Problem(f"{where_file}:{line + offset}", name, reason))
    return problems


def _markdown_sources(root: Path) -> list[Path]:
    files = [root / "README.md"] if (root / "README.md").is_file() else []
    if (root / "docs").is_dir():
        files += _walk(root / "docs", "*.md")
    return files


def markdown_names(root: Path) -> list[Problem]:
    """Documents named in the text of ``README.md`` and ``docs/**/*.md`` (outside link targets,
    which :func:`markdown_links` checks) that do not exist: a path, or a bare name no document has."""
    basenames = {Path(d).name for d in _markdown_files(root)}
    problems = []
    for path in _markdown_sources(root):
        text = _LINK_TARGET.sub("]()", path.read_text(encoding="utf-8"))
        for offset, name in _names_in(text):
            reason = _missing(root, name, path.parent, basenames)
            if reason:
                where = f"{path.relative_to(root).as_posix()}:{offset + 1}"
                problems.append(Problem(where, name, reason))
    return problems


def _without_code(markdown: str) -> str:
    """``markdown`` with fenced blocks and code spans blanked (line numbers kept)."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return _CODE_SPAN.sub(blank, _FENCE.sub(blank, markdown))


def markdown_links(root: Path) -> list[Problem]:
    """Relative links and images in ``README.md`` and ``docs/**/*.md`` whose target is missing."""
    problems = []
    for path in _markdown_sources(root):
        text = _without_code(path.read_text(encoding="utf-8"))
        for match in _LINK.finditer(text):
            link = match.group(1)
            if _SCHEME.match(link) or link.startswith("#"):
                continue
            target = link.split("#", 1)[0].split("?", 1)[0]
            if not target:
                continue
            line = text.count("\n", 0, match.start()) + 1
            where = f"{path.relative_to(root).as_posix()}:{line}"
            resolved = (
                (root / target.lstrip("/")) if target.startswith("/") else path.parent / target
            )
            if not _inside(root, resolved):
                problems.append(Problem(where, link, "outside the repo"))
            elif not _exists_exactly(root, resolved):
                problems.append(Problem(where, link, "no such file in the repo"))
    return problems


def _report(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


# -- the repo -------------------------------------------------------------------------------------
def test_documents_named_in_the_code_exist() -> None:
    problems = code_references(ROOT)
    assert not problems, "documents named in docstrings or comments are missing:\n" + _report(
        problems
    )


def test_documents_named_in_the_markdown_exist() -> None:
    problems = markdown_names(ROOT)
    assert not problems, "documents named in README.md or docs/ are missing:\n" + _report(problems)


def test_links_in_the_markdown_resolve() -> None:
    problems = markdown_links(ROOT)
    assert not problems, "links in README.md or docs/ point nowhere:\n" + _report(problems)


def test_the_documents_the_code_refers_to_are_there() -> None:
    for name in ("docs/protocol.md", "docs/offline.md"):
        assert (ROOT / name).is_file(), name


# -- the checks themselves, on a tree with missing documents --------------------------------------
def _tree(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("[back](../README.md)\n", encoding="utf-8")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "notes.md").write_text("# notes\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("# r\n", encoding="utf-8")
    return tmp_path


def test_a_missing_document_in_a_docstring_or_comment_is_flagged(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "pkg" / "mod.py").write_text(
        '"""See docs/guide.md and docs/gone.md, and SPEC.md."""\n'
        "\n"
        "X = 1\n"
        '"""An attribute docstring naming ../outside/NOTES.md."""\n'
        "\n"
        "\n"
        "def f() -> str:\n"
        '    """Relative to this folder: notes.md and README.md are fine."""\n'
        "    # a comment naming docs/missing.md, https://example.com/elsewhere/REMOTE.md\n"
        '    return "data.md"  # a string used as data is not a reference\n',
        encoding="utf-8",
    )
    problems = code_references(root, ("pkg",))
    flagged = {(p.where, p.target, p.reason) for p in problems}
    assert flagged == {
        ("pkg/mod.py:1", "docs/gone.md", "no such document in the repo"),
        ("pkg/mod.py:1", "SPEC.md", "no such document in the repo"),
        ("pkg/mod.py:4", "../outside/NOTES.md", "outside the repo"),
        ("pkg/mod.py:9", "docs/missing.md", "no such document in the repo"),
    }


def test_a_bare_name_must_match_a_document_exactly(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "pkg" / "mod.py").write_text(
        "# GUIDE.md is not guide.md; guide.md is\n", encoding="utf-8"
    )
    assert [p.target for p in code_references(root, ("pkg",))] == ["GUIDE.md"]


def test_a_broken_markdown_link_or_image_is_flagged(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "README.md").write_text(
        "# Title\n"
        "[guide](docs/guide.md) [anchor](docs/guide.md#part) [site](https://example.com/x.md)\n"
        "[gone](docs/gone.md) ![shot](docs/screenshots/none.png)\n"
        "[out](../elsewhere/FILE.md) [top](#title)\n"
        "`[code](docs/ignored.md)`\n"
        "```\n"
        "[fenced](docs/ignored.md)\n"
        "```\n",
        encoding="utf-8",
    )
    (root / "docs" / "guide.md").write_text(
        "[back](../README.md) [self](guide.md) [wrong](protocol.md)\n", encoding="utf-8"
    )
    flagged = {(p.where, p.target, p.reason) for p in markdown_links(root)}
    assert flagged == {
        ("README.md:3", "docs/gone.md", "no such file in the repo"),
        ("README.md:3", "docs/screenshots/none.png", "no such file in the repo"),
        ("README.md:4", "../elsewhere/FILE.md", "outside the repo"),
        ("docs/guide.md:1", "protocol.md", "no such file in the repo"),
    }


def test_a_document_named_in_the_markdown_text_must_exist(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "README.md").write_text(
        "# The API (PROTOCOL.md v1)\n"
        "See [the guide](docs/gone.md), docs/guide.md and `notes.md`; OFFLINE.md's scenarios.\n",
        encoding="utf-8",
    )
    flagged = {(p.where, p.target) for p in markdown_names(root)}
    assert flagged == {("README.md:1", "PROTOCOL.md"), ("README.md:2", "OFFLINE.md")}
    assert [p.target for p in markdown_links(root)] == ["docs/gone.md"]


def test_a_clean_tree_has_no_problems(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "pkg" / "mod.py").write_text('"""See docs/guide.md."""\n', encoding="utf-8")
    assert code_references(root, ("pkg",)) == []
    assert markdown_names(root) == []
    assert markdown_links(root) == []
