"""The edgekit version (its own module, so no part of edgekit imports the package facade)."""

__version__ = "0.1.0"
