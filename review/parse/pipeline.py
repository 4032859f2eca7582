"""The spaCy/medspaCy ``nlp`` object: tokenizer special cases, the sentence, target, section and
ConText components in order, built once per process (explicitly, never at import)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from review.case import MAX_NOTE_CHARS
from review.lexicon import load_lexicon
from review.parse.context import SentenceContext
from review.parse.sections import LineSectionizer
from review.parse.sentences import line_break_starts
from review.parse.targets import RegexTargets, TargetSpans, target_rules

if TYPE_CHECKING:
    from spacy.language import Language


@cache
def build_pipeline() -> Language:
    """Build the spaCy/medspaCy pipeline once per process."""
    import spacy
    from loguru import logger
    from medspacy.target_matcher import TargetRule
    from spacy.language import Language
    from spacy.tokens import Doc

    logger.disable("PyRuSH")  # PyRuSH logs every token at import-time default level
    if not Language.has_factory("review_line_breaks"):
        Language.component("review_line_breaks", func=line_break_starts)
    if not Language.has_factory("review_targets"):
        Language.factory(
            "review_targets", func=lambda nlp, name: TargetSpans(nlp, target_rules(TargetRule))
        )
    if not Language.has_factory("review_context"):
        Language.factory("review_context", func=lambda nlp, name: SentenceContext(nlp))
    if not Language.has_factory("review_sectionizer"):
        Language.factory("review_sectionizer", func=lambda nlp, name: LineSectionizer(nlp))
    if not Language.has_factory("review_regex_targets"):
        Language.factory("review_regex_targets", func=lambda nlp, name: RegexTargets(TargetRule))
    if not Doc.has_extension("review_sections"):
        Doc.set_extension("review_sections", default=None)

    nlp = spacy.blank("en")
    nlp.max_length = MAX_NOTE_CHARS  # one limit, enforced by the case loader (C008)
    for entry in load_lexicon("abbreviations").entries:
        for abbreviation in entry.phrases:
            for form in {abbreviation, abbreviation.upper()}:
                if " " not in form:
                    # spaCy types the tokenizer as any callable; a blank pipeline's is a
                    # Tokenizer, a compiled class with no stub
                    nlp.tokenizer.add_special_case(form, [{"ORTH": form}])  # type: ignore[union-attr]
    nlp.add_pipe("review_line_breaks")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("review_targets")
    nlp.add_pipe("review_regex_targets")
    nlp.add_pipe("review_sectionizer")
    nlp.add_pipe("review_context")
    return nlp
