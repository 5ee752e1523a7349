"""QLoRA fine-tuning and evaluation."""
