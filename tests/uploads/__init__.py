"""Tests of formservice.uploads, one file per module of the package."""
