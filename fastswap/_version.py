"""fastswap's version: one leaf module (no imports) that the package, the CLI, identify's agent
string and the build metadata (pyproject.toml, ``[tool.setuptools.dynamic]``) all read."""

__version__ = "0.1.0"
