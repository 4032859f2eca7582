"""Chart review for trigger point injection claims.

The public API is small: :func:`review_case` plus the types in :mod:`review.schema`.
Nothing heavy is imported here; spaCy, medspaCy and the ICD-10-CM tables load on first use.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tpi-review")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__", "review_case"]


def review_case(case, config=None):
    """Review one case and return its :class:`~review.schema.Recommendation`."""
    from review.pipeline import review_case as _review_case

    return _review_case(case, config)
