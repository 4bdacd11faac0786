"""Grade / Data Quality Level engine (pure: no web framework, no database).

Entry points::

    from app.grades import assess, check_input
    assessment = assess(attributes, family="plastic_recyclate", claimed_level=3)

See ``app/grades/README.md`` for the attribute format and the rule tables.
"""

from app.grades.catalogue import FAMILIES, UnknownSchemeError, get_catalogue, schemes_for
from app.grades.dql import assess, check_input
from app.grades.results import Assessment, InputError, Issue, ThresholdCheck

__all__ = [
    "FAMILIES",
    "Assessment",
    "InputError",
    "Issue",
    "ThresholdCheck",
    "UnknownSchemeError",
    "assess",
    "check_input",
    "get_catalogue",
    "schemes_for",
]
