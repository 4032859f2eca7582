"""The ICD-10-CM index is generated from simple-icd-10-cm, never typed by hand: the copy shipped
in review/data must equal what the installed library says today."""

from __future__ import annotations

import gzip
import json
from importlib.metadata import version

import pytest

from review.codes import build_index_data, icd_index, packaged_index_path


def test_packaged_index_equals_the_library():
    path = packaged_index_path(version("simple-icd-10-cm"))
    if not path.is_file():
        pytest.skip(
            f"no packaged index for simple-icd-10-cm {version('simple-icd-10-cm')}; run python -m review.codes"
        )
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        assert json.load(fh) == build_index_data()


@pytest.mark.parametrize(
    ("code", "valid", "billable"),
    [
        ("M79.18", True, True),
        ("M79.1", True, False),
        ("M7918", True, True),
        ("M79.99", False, False),
        ("m54.2", True, True),
        ("Z00.00", True, True),
    ],
)
def test_lookups(code, valid, billable):
    index = icd_index()
    assert (index.is_valid(code), index.is_billable(code)) == (valid, billable)
