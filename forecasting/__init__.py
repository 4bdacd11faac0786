"""Supply forecasting for the recyclate marketplace (pure package: no web or DB imports).

Modules: :mod:`forecasting.dataset` (events -> series), :mod:`forecasting.models` (methods),
:mod:`forecasting.metrics`, :mod:`forecasting.backtest`, :mod:`forecasting.known_supply`,
:mod:`forecasting.registry`, :mod:`forecasting.train`, :mod:`forecasting.cli`.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
