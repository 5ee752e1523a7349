"""docs2qa: documentation site -> curated Q&A dataset -> fine-tuned model."""

__version__ = "0.1.0"
