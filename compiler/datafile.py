"""Package data read fast: the instance catalog, model shapes and engine capability tables.

These YAML files ship with mcompile and nobody locates an error in them, so they need no
source positions: they are parsed with libyaml's C parser (PyYAML's ``CSafeLoader``, ~10x the
speed of the pure-Python reader used for profiles), and with PyYAML's pure-Python
``SafeLoader`` where libyaml is missing. PyYAML resolves plain scalars by YAML 1.1 rules
(``yes``/``on`` are booleans, ``010`` is octal) where profiles are read as YAML 1.2:
``tests/test_datafile.py`` proves that every data file shipped reads to the same values, types
included, both ways, so a value written the 1.1 way fails the suite instead of changing meaning.

The YAML files stay the source; what they parse to is kept in the user cache
(:mod:`compiler.verify.schema_cache`: ``marshal`` behind a SHA-256 of the body, written
atomically, a damaged entry ignored and rewritten, ``MCOMPILE_NO_CACHE`` turns it off), keyed by
the file's bytes, this module's source and the installed PyYAML (path, size and mtime of its
files), so a build whose entries are there parses no data file (the engine tables alone take
milliseconds to construct).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

_FORMAT = "datafile/v1"
#: The PyYAML files whose code decides what a data file parses to.
_PYYAML_FILES = ("__init__.py", "loader.py", "constructor.py", "resolver.py", "cyaml.py")


def load(path: Path) -> Any:
    """The one YAML document in ``path``."""
    from .verify import schema_cache

    with open(path, "rb") as fh:
        raw = fh.read()
    parts = (_FORMAT, code_key(), hashlib.sha256(raw).hexdigest())
    return schema_cache.cached(parts, lambda: parse(raw), _fresh)


def parse(raw: bytes) -> Any:
    """What PyYAML reads ``raw`` to (the reference: :func:`load` returns this or its cached copy)."""
    import yaml

    return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _fresh(data: Any) -> Any:
    """The cached data as ``load`` returns it (``marshal`` gives new objects on every read)."""
    return data


@cache
def code_key() -> str:
    """Digest of this module and of the installed PyYAML (found, not imported)."""
    from .usercache import library_stamp

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(b"\0" + library_stamp("yaml", _PYYAML_FILES, also="_yaml*").encode())
    return digest.hexdigest()
