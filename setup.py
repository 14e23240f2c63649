"""Build script: protobuf modules from proto/fastswap/, and the compiled twins.

Two kinds of compiled module are built (see DESIGN.md, "Compiled hot paths"):

* hand-written ``.pyx`` files anywhere under ``fastswap/`` (byte-level code: codec, framing),
  compiled as the module of the same name;
* typed pure-Python modules ``X_py.py`` that have an ``X_c.pxd`` beside them: the same source is
  compiled a second time as ``X_c`` with the ``.pxd`` adding C types (aiohttp's reader_py/reader_c),
  so the two twins cannot drift.

``FASTSWAP_NO_EXTENSIONS=1`` builds nothing compiled: the package then runs on its pure twins.
The protobuf modules (``fastswap/_proto/*_pb2.py``) are always generated; they are build output and
are not committed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).parent.resolve()
PKG = ROOT / "fastswap"
TWIN_BUILD = ROOT / "build" / "twins"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def generate_protos() -> None:
    """proto/fastswap/*.proto -> fastswap/_proto/*_pb2.py (regenerated when the .proto is newer).

    Each file is compiled with ``-Iproto``, so it registers in protobuf's process-wide descriptor
    pool as ``fastswap/<name>.proto``: another library's ``noise.proto`` or ``identify.proto``
    (py-libp2p has both) cannot clash with ours. protoc writes the module under
    ``<out>/fastswap/``; it is moved into ``fastswap/_proto/``. No .proto imports another, so the
    modules need no import rewriting.
    """
    from grpc_tools import protoc  # build requirement (pyproject.toml)

    out = PKG / "_proto"
    out.mkdir(exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    scratch = ROOT / "build" / "proto"
    for proto in sorted((ROOT / "proto" / "fastswap").glob("*.proto")):
        targets = [out / (proto.stem + suffix) for suffix in ("_pb2.py", "_pb2.pyi")]
        if all(t.exists() and t.stat().st_mtime >= proto.stat().st_mtime for t in targets):
            continue
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        rc = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{ROOT / 'proto'}",
                f"-I{include}",
                f"--python_out={scratch}",
                f"--pyi_out={scratch}",
                str(proto),
            ]
        )
        if rc != 0:
            sys.exit(f"protoc failed on {proto.relative_to(ROOT)}")
        for target in targets:
            shutil.move(str(scratch / "fastswap" / target.name), str(target))
        shutil.rmtree(scratch, ignore_errors=True)


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _copy_if_changed(src: Path, dest: Path) -> None:
    # Keep the copy's mtime when nothing changed, so cythonize skips unchanged twins.
    if dest.exists() and dest.read_bytes() == src.read_bytes():
        return
    shutil.copyfile(src, dest)


def _twin_copies() -> list[tuple[str, Path]]:
    """Copy each X_py.py that has an X_c.pxd to build/twins/.../X_c.py, beside its .pxd.

    Cython names a module after its file and finds the augmenting .pxd by the same name, so the
    compiled twin needs a file called X_c.py; copying keeps the one source in the tree.
    """
    twins = []
    for pxd in sorted(PKG.rglob("*_c.pxd")):
        pure = pxd.with_name(pxd.name[: -len("_c.pxd")] + "_py.py")
        if not pure.exists() or pxd.with_suffix(".pyx").exists():
            continue
        rel = pxd.relative_to(ROOT).parent
        dest_dir = TWIN_BUILD / rel
        dest_dir.mkdir(parents=True, exist_ok=True)
        # __init__.py files up the tree so Cython derives the dotted module name
        for parent in [TWIN_BUILD / p for p in [*reversed(rel.parents)][1:]] + [dest_dir]:
            (parent / "__init__.py").touch()
        dest = dest_dir / (pxd.stem + ".py")
        _copy_if_changed(pure, dest)
        _copy_if_changed(pxd, dest_dir / pxd.name)
        twins.append((_module_name(pxd), dest))
    return twins


def extensions() -> list[Extension]:
    if _env_flag("FASTSWAP_NO_EXTENSIONS"):
        return []
    from Cython.Build import cythonize  # build requirement (pyproject.toml)

    common = dict(
        include_dirs=[str(ROOT / "csrc")],
        # a changed C helper header must recompile the modules that include it
        depends=[str(h.relative_to(ROOT)) for h in sorted((ROOT / "csrc").glob("*.h"))],
        extra_compile_args=["-O3", "-fno-strict-aliasing"],
    )
    exts = [
        Extension(_module_name(pyx), [str(pyx.relative_to(ROOT))], **common)
        for pyx in sorted(PKG.rglob("*.pyx"))
    ]
    exts += [Extension(name, [str(src)], **common) for name, src in _twin_copies()]
    return cythonize(
        exts,
        include_path=[str(ROOT), str(TWIN_BUILD)],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
            "freethreading_compatible": False,
        },
        annotate=_env_flag("FASTSWAP_ANNOTATE"),
        quiet=True,
    )


generate_protos()
setup(ext_modules=extensions())
