"""Report stage: a Recommendation rendered as JSON (the contract) or text (for a terminal)."""

from review.report.json import render_json
from review.report.text import render_text

__all__ = ["render_json", "render_text"]
