"""QLoRA fine-tuning and evaluation."""

# docs2qa.config imports the config sections defined in this package; loading it first means
# importing docs2qa.finetune.config (or .evaluate.config) directly never meets it half-initialised.
import docs2qa.config  # noqa: E402,F401
