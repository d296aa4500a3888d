"""Unit tests, mirroring the package (tests/unit/<package path>/test_<module>.py)."""
