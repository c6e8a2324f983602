"""Where the project's data files are: the ``resources/`` folder shipped beside its packages.

Owns: :func:`data_root`.  Presets, translations and the like are found next to the ``cashier``
package itself (a checkout, an installed wheel or a bundle alike), never by importing a package
called ``resources``: Python puts the current folder first on ``sys.path`` for ``python -m``, so
any ``resources/`` package of the folder a command runs in would be taken instead.

Must not: import anything of the project (everything imports it).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_root"]


def data_root() -> Path:
    """The project's ``resources/`` folder."""
    return Path(__file__).resolve().parent.parent / "resources"
