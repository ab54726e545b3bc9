"""ftlab: compare full fine-tuning with parameter-efficient methods on your own data."""

__version__ = "0.1.0"
