"""Package data read fast: the instance catalog, model shapes and engine capability tables.

These YAML files ship with mcompile and nobody locates an error in them, so they need no
source positions: they are parsed with libyaml's C parser (PyYAML's ``CSafeLoader``, ~10x the
speed of the pure-Python reader used for profiles), and with PyYAML's pure-Python
``SafeLoader`` where libyaml is missing. PyYAML resolves plain scalars by YAML 1.1 rules
(``yes``/``on`` are booleans, ``010`` is octal) where profiles are read as YAML 1.2:
``tests/test_datafile.py`` proves that every data file shipped reads to the same values, types
included, both ways, so a value written the 1.1 way fails the suite instead of changing meaning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(path: Path) -> Any:
    """The one YAML document in ``path``."""
    with open(path, "rb") as fh:
        return yaml.load(fh, Loader=_LOADER)
