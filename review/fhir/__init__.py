"""FHIR R4 in and out: a Da Vinci PAS ``Claim/$submit`` Bundle becomes a :class:`~review.schema.Case`
(:mod:`review.fhir.bundle`), a recommendation becomes a PAS-shaped ``ClaimResponse`` with a
CDex-style ``Task`` for missing documentation (:mod:`review.fhir.response`).

Parsing and serialisation go through ``fhir.resources``' **R4B** models. The package ships no R4
(4.0.1) models; R4B (4.3) was a deliberately small release over R4 whose changes are confined to
resources this pipeline does not read (e.g. medication definition, subscriptions): the Claim,
ClaimResponse, Coverage, DocumentReference, Binary, Patient, Task and CapabilityStatement
structures an R4 PAS/CDex exchange uses validate the same way, so R4 content is read and written
with the R4B classes and the output still says ``fhirVersion 4.0.1`` where it is asked.
"""

from review.fhir.bundle import case_from_bundle, is_bundle

__all__ = ["case_from_bundle", "is_bundle"]
