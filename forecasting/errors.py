"""Errors raised for bad forecasting input.

Every error is a ``ValueError`` subclass whose message is one human-readable line, so the
CLI can print it as is and the service can return it in a 4xx response.
"""

from __future__ import annotations


class ForecastInputError(ValueError):
    """Base class: the input data cannot be used to build series or forecasts."""


class EmptyInputError(ForecastInputError):
    """The events file or frame holds no rows."""


class UnknownColumnError(ForecastInputError):
    """A requested column is not in the input."""


class InvalidQuantityError(ForecastInputError):
    """A quantity is negative, missing or not a number."""


class InvalidTimestampError(ForecastInputError):
    """A timestamp cannot be parsed."""


class InvalidKeyError(ForecastInputError):
    """A key column holds a missing value."""


class InsufficientHistoryError(ForecastInputError):
    """The history is too short (e.g. a single period) to fit or backtest."""


class InvalidParameterError(ForecastInputError):
    """A parameter (horizon, origins, as-of date, frequency...) is out of range."""
