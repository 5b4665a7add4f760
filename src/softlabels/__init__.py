"""softlabels: soft vs hard labels in knowledge distillation (see SCIENCE.md and the README)."""

__version__ = "0.1.0"
