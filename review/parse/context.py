"""ConText (negation, history, hypothetical, ...): ``context.yaml`` as medspaCy ConTextRules and
the spaCy component that applies them to the targets one sentence at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from review.lexicon import load_context, load_vocab, token_pattern
from review.parse.matching import RuleMatcher

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc


class SentenceContext:
    """medspaCy's ConText algorithm with our modifier rules (``context.yaml``), run sentence by
    sentence: medspaCy builds one graph per document and compares every modifier with every
    other and with every target (quadratic in the length of a note); a modifier's scope never
    leaves its sentence, so one graph per sentence gives the same edges in linear time.

    Targets get medspaCy's flags (``is_negated``, ``is_historical``, ...) for the existence
    categories and ``span._.modifiers`` for every category; the document keeps every cue in
    ``doc._.context_graph``."""

    def __init__(self, nlp: Language):
        from medspacy.context import ConText
        from medspacy.context.context import DEFAULT_ATTRIBUTES

        ConText.register_graph_attributes()
        ConText.register_default_attributes()
        self.attributes = DEFAULT_ATTRIBUTES
        self.matcher = RuleMatcher(nlp, context_rules())

    def __call__(self, doc: Doc) -> Doc:
        from collections import defaultdict

        import numpy
        from medspacy.context.context_graph import ConTextGraph
        from medspacy.context.context_modifier import ConTextModifier
        from spacy.attrs import SENT_START

        sentence = numpy.cumsum(doc.to_array([SENT_START]).astype("int64") == 1) - 1
        groups: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
        for target in doc.ents:
            groups[int(sentence[target.start])][0].append(target)
        modifiers = []
        for rule, start, end in self.matcher(doc):
            modifier = ConTextModifier(rule, start, end, doc)
            modifiers.append(modifier)
            groups[int(sentence[start])][1].append(modifier)
        edges = []
        for key in sorted(groups):
            group_targets, group_modifiers = groups[key]
            if not group_targets or not group_modifiers:
                continue
            graph = ConTextGraph(prune_on_modifier_overlap=False)
            graph.targets = group_targets
            graph.modifiers = group_modifiers
            graph.update_scopes()
            graph.apply_modifiers()
            edges.extend(graph.edges)
        for target, modifier in edges:
            target._.modifiers += (modifier,)
            for name, value in self.attributes.get(modifier.category, {}).items():
                setattr(target._, name, value)
        graph = ConTextGraph(prune_on_modifier_overlap=False)
        graph.targets, graph.modifiers, graph.edges = doc.ents, modifiers, edges
        doc._.context_graph = graph
        return doc


def context_rules() -> list:
    """``context.yaml`` as medspaCy ConTextRules: one per phrase and per token pattern."""
    from medspacy.context import ConTextRule

    classes = load_vocab().classes
    rules = []
    for i, entry in enumerate(load_context().entries):
        options = {
            "direction": entry.direction,
            "allowed_types": set(entry.allowed_types) if entry.allowed_types else None,
            "terminated_by": set(entry.terminated_by),
            "max_scope": entry.max_scope,
            "max_targets": entry.max_targets,
        }
        for phrase in entry.phrases:
            rules.append(ConTextRule(phrase, entry.category, **options))
        for j, text in enumerate(entry.token_patterns):
            pattern = token_pattern(text, classes)
            rules.append(
                ConTextRule(f"{entry.category}:{i}:{j}", entry.category, pattern=pattern, **options)
            )
    return rules
