"""softlabels: soft vs hard labels in knowledge distillation (README.md; the science: docs/science.md)."""

__version__ = "0.1.0"
