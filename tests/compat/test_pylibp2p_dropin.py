"""The drop-in for py-libp2p's Bitswap, proven where its users run it: fastswap installed
beside libp2p 0.8.1 on protobuf 6.x (``tests/peers/pylibp2p_dropin.py`` builds that venv with
one ``pip install . libp2p==0.8.1`` resolution, cached by stamps), and there, as a child pytest:

* py-libp2p 0.8.1's own Bitswap tests (from its sdist), their ``libp2p.bitswap`` imports pointed
  at ``fastswap.compat.libp2p`` and nothing else changed, minus the tests listed below;
* those of them that construct hosts once more on fastswap's own host (``new_host`` imported
  from the drop-in too: a py-libp2p program's only other change), minus the same tests;
* ``tests/compat/dropin/``: a mixed swarm with py-libp2p's own Bitswap on both hosts, and each
  place where the drop-in follows the spec instead of py-libp2p.

A failure shows the child's output. Each ported file is its own test here, so a regression names
the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.peers import pylibp2p_dropin as env

pytestmark = [pytest.mark.interop, pytest.mark.slow]

_HERE = Path(__file__).parent

#: whole files of py-libp2p's suite not run, and why
IGNORED_FILES = {
    "bitswap/test_payment.py": "the payment extension (1.3.0) is out of the drop-in's scope",
    "bitswap/test_presence.py": "internals: py-libp2p's BlockPresenceManager class",
    "bitswap/test_provider_query.py": (
        "internals: py-libp2p's ProviderQueryManager/ProviderCache classes, and a client "
        "whose private _send_wantlist_to_peer/_broadcast_wantlist are mocked"),
}
#: single tests not run, and why (each tests py-libp2p's private state or one of its defects)
DESELECTED = {
    "bitswap/test_client.py::TestBitswapClientInit::test_init_state":
        "internals: asserts on the private _peer_wantlists dict",
    "bitswap/test_client.py::TestBitswapClientPeerManagement::test_track_peer_protocol":
        "internals: writes and reads the private _peer_protocols dict",
    "bitswap/test_client.py::TestBitswapClientPeerManagement::test_peer_wantlist":
        "internals: writes and reads the private _peer_wantlists dict",
    "bitswap/test_client.py::TestBitswapClientBugFixes::test_timeout_cleanup":
        "internals: py-libp2p's presence_manager; the drop-in's engine owns presences",
    "bitswap/test_client.py::TestBitswapClientBugFixes::test_broadcast_limit":
        "internals: mocks the private _send_wantlist_to_peer and _broadcast_wantlist",
    "bitswap/test_integration.py::TestBitswapIntegration::test_dont_have_response":
        "internals + a py-libp2p defect: reads presence_manager, and expects the request to "
        "wait out its timeout after DONT_HAVE; dropin/test_mixed_swarm.py::"
        "test_dont_have_is_an_answer tests the spec's behaviour instead (on both hosts)",
}
#: py-libp2p's tests that construct hosts, ported to fastswap's host (pylibp2p_dropin.py)
FASTSWAP_HOST_FILES = [
    "bitswap_on_fastswap_host/test_integration.py",
    "bitswap_on_fastswap_host/test_protocol_versions.py",
]
PORTED_FILES = [
    "bitswap/test_block_service.py",
    "bitswap/test_block_store.py",
    "bitswap/test_chunker.py",
    "bitswap/test_cid.py",
    "bitswap/test_client.py",
    "bitswap/test_dag.py",
    "bitswap/test_dag_pb.py",
    "bitswap/test_filesystem_blockstore.py",
    "bitswap/test_integration.py",
    "bitswap/test_io_stream.py",
    "bitswap/test_messages.py",
    "bitswap/test_protocol_versions.py",
    "bitswap/test_spec_compliance.py",
    "bitswap/test_unixfs_encoding.py",
    "bitswap/test_wantlist.py",
]
#: our own tests of the drop-in, every file of tests/compat/dropin (none can be left out)
OWN_FILES = sorted(f"dropin/{p.name}" for p in (_HERE / "dropin").glob("test_*.py"))


class ChildRun:
    def __init__(self, proc: subprocess.CompletedProcess[str], junit: Path) -> None:
        self.output = (proc.stdout + proc.stderr)[-20000:]
        self.returncode = proc.returncode
        self.outcomes: dict[str, str] = {}
        if junit.exists():
            for case in ET.parse(junit).getroot().iter("testcase"):
                failed = any(c.tag in ("failure", "error") for c in case)
                skipped = any(c.tag == "skipped" for c in case)
                name = f"{case.get('file') or case.get('classname')}::{case.get('name')}"
                self.outcomes[name] = "failed" if failed else "skipped" if skipped else "passed"

    def for_file(self, path: str) -> dict[str, str]:
        """Outcomes of the tests in *path* ("dir/test_x.py": its last directory and module
        name, in that order, in the junit's name of the test; the junit names a file outside
        the rootdir by its module path)."""
        want = list(Path(path).with_suffix("").parts[-2:])
        out = {}
        for k, v in self.outcomes.items():
            parts = k.split("::", 1)[0].removesuffix(".py").replace("/", ".").split(".")
            if any(parts[i:i + 2] == want for i in range(len(parts) - 1)):
                out[k] = v
        return out


def _deselected() -> list[str]:
    """DESELECTED, in both trees where the file was ported to fastswap's host too."""
    out = list(DESELECTED)
    for nodeid in DESELECTED:
        path, _, name = nodeid.partition("::")
        twin = path.replace("bitswap/", "bitswap_on_fastswap_host/", 1)
        if twin in FASTSWAP_HOST_FILES:
            out.append(f"{twin}::{name}")
    return out


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> ChildRun:
    env.ensure_installed()
    ported = env.ported_tests()
    own = _HERE / "dropin"
    junit = tmp_path_factory.mktemp("dropin") / "junit.xml"
    cmd: list[Any] = [
        str(env.venv_python()), "-m", "pytest", "-c", str(ported / "pytest.ini"),
        "--rootdir", str(ported), "-p", "no:cacheprovider", "-q", "-rfE", "--timeout", "300",
        "--junitxml", str(junit), "-o", "junit_family=xunit1",
        *[x for f in IGNORED_FILES for x in ("--ignore", str(ported / f))],
        *[x for t in _deselected() for x in ("--deselect", t)],
        *[str(ported / f) for f in PORTED_FILES + FASTSWAP_HOST_FILES], str(own),
    ]
    child_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the installed fastswap, not this checkout: run from the ported tree
    proc = subprocess.run(cmd, cwd=ported, env=child_env, capture_output=True, text=True,
                          timeout=1500, stdin=subprocess.DEVNULL, check=False)
    run = ChildRun(proc, junit)
    print(run.output[-3000:], file=sys.stderr)
    return run


@pytest.mark.parametrize("path", PORTED_FILES + FASTSWAP_HOST_FILES + OWN_FILES)
def test_dropin(child: ChildRun, path: str) -> None:
    results = child.for_file(path)
    assert results, f"no test of {path} ran in the drop-in venv:\n{child.output}"
    failed = sorted(k for k, v in results.items() if v != "passed")
    assert not failed, f"{len(failed)} of {len(results)} failed: {failed}\n{child.output}"


def test_deselection_list_is_current(child: ChildRun) -> None:
    """Every deselected test still exists in py-libp2p's suite (a stale entry hides nothing)."""
    ported = env.ported_tests()
    for nodeid in DESELECTED:
        path, _, name = nodeid.partition("::")
        assert name.split("::")[-1] in (ported / path).read_text(), nodeid
    assert child.returncode == 0, child.output


def test_every_host_test_runs_on_fastswap_host() -> None:
    """Every ported file that constructs a host was ported to fastswap's host and runs here
    (a new one in a later sdist is not silently left on py-libp2p's host only)."""
    ported = env.ported_tests()
    made = sorted(str(p.relative_to(ported)) for p in
                  (ported / "bitswap_on_fastswap_host").glob("test_*.py"))
    assert made == sorted(FASTSWAP_HOST_FILES)
    for path in FASTSWAP_HOST_FILES:
        text = (ported / path).read_text()
        assert "from fastswap.compat.libp2p import new_host" in text
        assert "from libp2p import new_host" not in text
