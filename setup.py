"""Build hook: the wheel carries the bundled policies and prompts.

``rules/`` and ``prompts/`` live at the top of the repository (they are reviewed as data, not
code), so setuptools would leave them out of a wheel. This copies them into the built package as
``review/_bundled/rules`` and ``review/_bundled/prompts``, where ``review.resources`` finds them
with importlib.resources. An editable install builds nothing: ``review.resources`` then reads the
checkout's folders directly. Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("rules", "prompts")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


class BuildWithBundledData(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for name in BUNDLED:
            target = Path(self.build_lib) / "review" / "_bundled" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(Path(name), target, ignore=SKIP)


setup(cmdclass={"build_py": BuildWithBundledData})
