"""Parse stage: spaCy + medspaCy turn a note into numbered sentences, sections and lexicon mentions
with ConText flags, all as plain data with character offsets into the original text.

``sentences`` splits, ``matching`` / ``targets`` / ``context`` / ``sections`` are the pipeline's
components, ``pipeline`` builds the ``nlp`` object once per process (explicitly, never at
import), and ``documents`` runs it over a case's notes.
"""

from review.parse.context import SentenceContext, context_rules
from review.parse.documents import parse_document, parse_documents
from review.parse.matching import RuleMatcher
from review.parse.pipeline import build_pipeline
from review.parse.sections import LineSectionizer
from review.parse.sentences import LIST_ITEM, join_wrapped_lines, line_break_starts
from review.parse.targets import RegexTargets, TargetSpans, target_rules

__all__ = [
    "LIST_ITEM",
    "LineSectionizer",
    "RegexTargets",
    "RuleMatcher",
    "SentenceContext",
    "TargetSpans",
    "build_pipeline",
    "context_rules",
    "join_wrapped_lines",
    "line_break_starts",
    "parse_document",
    "parse_documents",
    "target_rules",
]
