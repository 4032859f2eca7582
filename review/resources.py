"""Where the bundled policies and prompts are.

An installed wheel carries them inside the package (``review/_bundled/rules`` and
``review/_bundled/prompts``, copied there at build time by ``setup.py``), found with
importlib.resources. A source checkout or an editable install reads the repository's top-level
``rules/`` and ``prompts/`` folders. Environment overrides (``REVIEW_RULES_DIR``,
``REVIEW_PROMPTS_DIR``) and the user policy directory are applied by the callers.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

Bundled = Literal["rules", "prompts"]


def bundled_dir(kind: Bundled) -> Path:
    """The folder holding the bundled ``rules`` or ``prompts``."""
    packaged = files("review") / "_bundled" / kind
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / kind
