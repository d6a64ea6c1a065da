"""The stand-in library of tests/library (real PTB-XL records 1-100, spectrum+PCA embedding)."""

from tests.library.conftest import mechanics_assets  # noqa: F401  (session fixture)
