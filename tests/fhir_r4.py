"""FHIR R4 (4.0.1) validation for the tests: the SMART fhirclient's R4 models, parsed strictly (every
element must exist in R4 with its R4 type, every required element present), resources inside Bundles
included. fhir.resources ships R5, R4B and STU3 models but not R4 any more, so R4 comes from here."""

from typing import Any

from fhirclient.models.fhirelementfactory import FHIRElementFactory


def validate_r4(resource: dict[str, Any]) -> Any:
    """The resource as an R4 model; raises FHIRValidationError when it is not valid R4."""
    return FHIRElementFactory.instantiate(resource["resourceType"], resource)
