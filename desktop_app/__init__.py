"""ECG case finder: an offline decision aid that finds confirmed ECG cases similar to a patient's.

The app does not diagnose. It shows similar cases from a bundled library (PTB-XL, PhysioNet,
CC BY 4.0) and what those cases agree on.
"""

__version__ = "0.1.0"
