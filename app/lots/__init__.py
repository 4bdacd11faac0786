"""Lots of recyclate. Importing the package registers the list-item renderer on the model."""

from app.lots import summary as _summary  # noqa: F401
