"""rlhf_core: the shared library behind every stage of the RLHF study pipeline."""

__version__ = "0.1.0"
