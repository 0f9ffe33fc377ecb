"""Exam registration service of the académie: the notice site and the form service."""

__version__ = "0.1.0"
