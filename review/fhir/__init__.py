"""FHIR R4 in and out: a Da Vinci PAS ``Claim/$submit`` Bundle becomes a :class:`~review.schema.Case`
(:mod:`review.fhir.bundle`), a recommendation becomes a PAS-shaped ``ClaimResponse`` with a
CDex-style ``Task`` for missing documentation (:mod:`review.fhir.response`).

Parsing and serialisation go through ``fhir.resources``' **R4B** models. The package ships no R4
(4.0.1) models (8.x carries R4B, R5 and STU3); R4B (4.3) was a small release over R4 whose
substantive changes are in resources this pipeline does not use (medication definition,
subscriptions, evidence). The elements read and written here (Claim, ClaimResponse, Coverage,
DocumentReference, Binary, Patient, Task, CapabilityStatement) are the same in both, so R4
content validates and round-trips with the R4B classes; the CapabilityStatement says 4.0.1.
"""

from review.fhir.bundle import case_from_bundle, is_bundle

__all__ = ["case_from_bundle", "is_bundle"]
