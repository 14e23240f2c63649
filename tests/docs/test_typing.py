"""What a user's type checker sees: the README's Python examples and the public names of
``fastswap`` pass ``mypy --strict``, and the names are real types, not ``Any`` or ``object``
(``Node`` and ``Session`` come from a lazy module ``__getattr__``, which type checkers do not run:
``fastswap/__init__.py`` declares them under ``TYPE_CHECKING``).

fastswap is checked as an installed package is: its types are used, its own modules' errors are
not reported (the editable install's import hook is invisible to mypy, hence ``MYPYPATH``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.docs.test_readme import ROOT, python_examples

MYPY_INI = """\
[mypy]
strict = True
[mypy-fastswap.*]
ignore_errors = True
follow_imports = silent
[mypy-google.*]
ignore_missing_imports = True
"""

PUBLIC_NAMES = """\
import fastswap
from fastswap import CID, HAS_EXTENSIONS, Block, FastswapError, Node, Session, open_blockstore


async def use(node: Node) -> tuple[CID, Block, bool]:
    cid = await node.put_block(b"data")
    block = await node.get_block(cid, timeout=1.0)
    async with node.session() as session:
        assert isinstance(session, Session)
    entries = await node.ls(cid)
    names: list[str] = [e.name for e in entries]
    try:
        await node.fetch_dag(cid)
    except FastswapError as exc:
        names.append(str(exc))
    store = open_blockstore("repo")
    del store, names
    return cid, block, HAS_EXTENSIONS and fastswap.__version__ != ""
"""

# each must be an error: were Node, Session, CID or Block Any (or object), mypy would pass them
WRONG = {
    "node_is_not_any": "import fastswap\nx: int = fastswap.Node()\n",
    "session_is_not_any": "import fastswap\ndef f(s: fastswap.Session) -> int:\n    return s\n",
    "cid_is_not_any": "from fastswap import CID\ndef f(c: CID) -> int:\n    return c\n",
    "get_block_returns_a_block": ("import fastswap\n"
                                  "async def f(n: fastswap.Node) -> int:\n"
                                  "    return await n.get_block('x')\n"),
}


def mypy(tmp_path: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for name, code in files.items():
        (tmp_path / name).write_text(code)
    (tmp_path / "mypy.ini").write_text(MYPY_INI)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-incremental",
         "--cache-dir", os.devnull, *files],
        cwd=tmp_path, env={**os.environ, "MYPYPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=120, check=False)


def test_readme_examples_and_public_names_pass_mypy_strict(tmp_path: Path) -> None:
    examples = python_examples()
    assert len(examples) == 2
    files = {f"example_{i}.py": code for i, code in enumerate(examples)}
    files["public_names.py"] = PUBLIC_NAMES
    done = mypy(tmp_path, files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Success: no issues found in {len(files)} source files" in done.stdout


def test_public_names_are_real_types(tmp_path: Path) -> None:
    done = mypy(tmp_path, {f"{name}.py": code for name, code in WRONG.items()})
    flagged = {line.split(".py:", 1)[0] for line in done.stdout.splitlines() if ": error:" in line}
    assert flagged == set(WRONG), done.stdout
