"""YAML as every data file of the product reads it: safe, and with libyaml's C loader when it is
installed (the pure-Python loader was a visible share of a cold `review case`)."""

from __future__ import annotations

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str):
    return yaml.load(text, Loader=_LOADER)
