"""`docs2qa finetune`: QLoRA supervised fine-tuning on a dataset version (trl's SFTTrainer).

The same code runs on a CPU (CI, the offline demo) and on GPUs. Several GPUs, data parallel,
one full copy of the 4-bit model per GPU:

    accelerate launch --num_processes 2 -m docs2qa finetune -c my.yaml
    # or: accelerate launch --multi_gpu --num_processes N -m docs2qa finetune -c my.yaml --resume

Every process trains; only the first writes the adapter, card, manifest and merged model.
Batch size is per GPU: the effective batch is batch_size x gradient_accumulation_steps x N.

Output folder:
    adapter/        LoRA weights + tokenizer (with the chat template it was trained with)
    checkpoints/    trainer checkpoints (adapter, optimizer, scheduler, RNG, step); `--resume` continues them
    merged/         with `--merge`: the adapter merged into a bf16 (un-quantized) base
    README.md       model card; manifest.json: lineage (dataset version, content id, config hash), losses
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from docs2qa.config import stable_hash
from docs2qa.errors import Docs2qaError
from docs2qa.finetune import card, data
from docs2qa.finetune.config import FinetuneConfig
from docs2qa.finetune.model import load_base, load_tokenizer, lora_config, set_threads, use_bf16

log = logging.getLogger(__name__)
# Fewer training rows than this teach a model their wording at best: the card says so.
MIN_TRAIN_ROWS = 30
RUN_FILE = "docs2qa-run.json"  # in checkpoints/: the settings a resume must match
# A resume may run longer or shorter, or on another machine; anything else would mix two recipes in one adapter.
RESUME_FREE = ("max_steps", "output_dir", "torch_threads", "eval_batch_size")


def finetune(
    cfg: FinetuneConfig,
    *,
    out_dir: Path,
    dataset_root: Path = Path("datasets"),
    resume: bool = False,
    merge: bool = False,
) -> dict:
    """Train an adapter on `cfg.dataset`; write it with a card and a manifest to `out_dir`; return the manifest."""
    from transformers.trainer_utils import get_last_checkpoint

    from docs2qa.models.embedded import resolve_model

    out_dir = Path(out_dir)
    checkpoints = out_dir / "checkpoints"
    config_hash = stable_hash(cfg.model_dump(mode="json"))
    recipe_hash = stable_hash(cfg.model_dump(mode="json", exclude=set(RESUME_FREE)))
    last = _checkpoint_to_resume(checkpoints, resume, recipe_hash, get_last_checkpoint)
    version = data.open_version(cfg.dataset, dataset_root)
    set_threads(cfg.torch_threads)
    base = resolve_model(cfg.base_model)
    tokenizer = load_tokenizer(base)
    train_set = data.for_model(data.load_split(version, "train", cfg.format), tokenizer)
    eval_set = data.for_model(data.load_split(version, "validation", cfg.format), tokenizer)
    if len(train_set) == 0:
        raise Docs2qaError(
            f"dataset version {version.path} has no training rows", "export a version with a train split"
        )
    warnings = []
    too_long = data.count_too_long(train_set, tokenizer, cfg.max_length)
    if too_long:
        warnings.append(
            f"{too_long} of {len(train_set)} training examples are longer than max_length="
            f"{cfg.max_length} tokens: their answers were cut, and those left without answer tokens "
            "were not trained on; raise finetune.max_length"
        )
    if len(train_set) < MIN_TRAIN_ROWS:
        warnings.append(
            f"only {len(train_set)} training rows (under {MIN_TRAIN_ROWS}): the adapter can memorise them, "
            "not learn the docs; generate more pairs (more chunks, generate.questions_per_answer)"
        )
    if len(eval_set) == 0:
        warnings.append("the validation split is empty: no evaluation and no early stopping in this run")
        eval_set = None
    for warning in warnings:
        log.warning(warning)

    bf16 = use_bf16(cfg)
    model = load_base(base, quantization=cfg.quantization, bf16=bf16, attn_implementation=cfg.attn_implementation)
    trainer = build_trainer(cfg, model, tokenizer, train_set, eval_set, checkpoints, bf16=bf16)
    checkpoints.mkdir(parents=True, exist_ok=True)
    (checkpoints / RUN_FILE).write_text(json.dumps({"recipe_hash": recipe_hash}) + "\n")
    resumed_from = json.loads((Path(last) / "trainer_state.json").read_text())["global_step"] if last else 0

    started = time.monotonic()
    if last and cfg.max_steps and resumed_from >= cfg.max_steps:
        _restore_finished_run(trainer, last)
    else:
        try:
            trainer.train(resume_from_checkpoint=last)
        finally:  # a failed step must not leave our progress bar drawing
            for callback in trainer.callback_handler.callbacks:
                if hasattr(callback, "close_progress"):
                    callback.close_progress()
    if eval_set is not None and trainer.state.global_step % cfg.eval_steps:
        trainer.evaluate()  # the card's validation loss is that of the adapter it describes
    wall = time.monotonic() - started

    if not trainer.is_world_process_zero():
        return {}
    adapter_dir = out_dir / "adapter"
    trainer.save_model(str(adapter_dir))  # the best checkpoint's weights when early stopping is on
    tokenizer.save_pretrained(adapter_dir)
    losses = card.losses(trainer.state.log_history)
    rose = card.validation_rise(losses)
    if rose:
        warnings.append(rose)
        log.warning(rose)
    manifest = {
        "base_model": cfg.base_model,
        "base_model_path": str(base),
        "adapter_dir": str(adapter_dir),
        "merged_dir": str(out_dir / "merged") if merge else None,
        "dataset": version.describe(),
        "config_hash": config_hash,
        "config": cfg.model_dump(mode="json"),
        "bf16": bf16,
        "examples": {"train": len(train_set), "validation": len(eval_set) if eval_set is not None else 0},
        "global_step": trainer.state.global_step,
        "resumed_from_step": resumed_from,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "losses": losses,
        "wall_time_s": round(wall, 1),
        "hardware": card.hardware(),
        "libraries": card.library_versions(),
        "warnings": warnings,
    }
    if merge:
        from docs2qa.finetune.merge import merge_adapter

        merge_adapter(base, adapter_dir, out_dir / "merged", dtype=cfg.merge_dtype)
    (out_dir / "README.md").write_text(card.render(manifest))
    card.write_manifest(out_dir, manifest)
    return manifest


def _restore_finished_run(trainer, last: str) -> None:
    """Resuming a run that already reached max_steps: Trainer would take one more step before
    it checks the limit, so the finished state and weights are loaded instead of trained."""
    from transformers import TrainerState

    trainer.state = TrainerState.load_from_json(str(Path(last) / "trainer_state.json"))
    trainer._load_from_checkpoint(trainer.state.best_model_checkpoint or last)


def _checkpoint_to_resume(checkpoints: Path, resume: bool, recipe_hash: str, get_last_checkpoint) -> str | None:
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if not resume:
        if last:
            raise Docs2qaError(
                f"{checkpoints} already holds checkpoints ({Path(last).name})",
                "pass --resume to continue that run, or choose another output folder",
            )
        return None
    if not last:
        raise Docs2qaError(f"nothing to resume: no checkpoint in {checkpoints}", "run without --resume to start")
    run_file = checkpoints / RUN_FILE
    previous = json.loads(run_file.read_text())["recipe_hash"] if run_file.is_file() else None
    if previous != recipe_hash:
        raise Docs2qaError(
            f"the checkpoints in {checkpoints} were written with a different finetune config",
            "resume with the same settings (only " + ", ".join(RESUME_FREE) + " may change), "
            "or start a new run in another output folder",
        )
    return last


def build_trainer(
    cfg: FinetuneConfig,
    model,
    tokenizer,
    train_set,
    eval_set,
    output_dir: Path,
    *,
    bf16: bool,
    callbacks: list | None = None,
):
    """An SFTTrainer that puts a fresh LoRA adapter on `model` (the frozen, quantised base);
    prompt/completion data gets completion-only loss, rendered with the tokenizer's own chat
    template. Pre-tokenized data (input_ids + completion_mask) is taken as it is."""
    from transformers import EarlyStoppingCallback
    from trl import SFTConfig, SFTTrainer

    evaluate = eval_set is not None
    patience = cfg.early_stopping_patience if evaluate else None  # stopping early watches the validation loss
    early_stopping = patience is not None
    # transformers 5.x renamed gradient_checkpointing* to activation_checkpointing* and warns on the old
    # names; older releases (trl accepts >=4.56) know only the old ones.
    name = (
        "activation_checkpointing"
        if "activation_checkpointing" in SFTConfig.__dataclass_fields__
        else "gradient_checkpointing"
    )
    # Reentrant checkpointing made QLoRA steps 6-35x slower on CPU and does not mix with DDP.
    checkpointing: dict[str, Any] = {name: cfg.gradient_checkpointing, f"{name}_kwargs": {"use_reentrant": False}}
    args = SFTConfig(
        output_dir=str(output_dir),
        seed=cfg.seed,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size or cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a share of the total steps
        max_grad_norm=cfg.max_grad_norm,
        weight_decay=cfg.weight_decay,
        optim=cfg.optimizer,
        bf16=bf16,
        fp16=False,
        **checkpointing,
        max_length=cfg.max_length,
        packing=cfg.packing,
        # Best-fit packing keeps every example whole and sends position ids, so attention stays inside an example.
        packing_strategy="bfd",
        completion_only_loss=True,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=cfg.eval_steps,
        save_strategy="steps",
        save_steps=cfg.checkpoint_steps,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=early_stopping,
        metric_for_best_model="eval_loss" if early_stopping else None,
        greater_is_better=False if early_stopping else None,
        logging_steps=cfg.logging_steps,
        report_to="none",
        # Trainer's tqdm bars and raw {'loss': ...} dicts: our StepProgress callback reports instead.
        disable_tqdm=True,
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0,
    )
    all_callbacks = [step_progress(), *(callbacks or [])]
    if patience is not None:
        all_callbacks.append(EarlyStoppingCallback(early_stopping_patience=patience))
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=lora_config(cfg),
        callbacks=all_callbacks,
    )
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # what disable_tqdm puts in the bars' place: print(logs)
    # trl stores the adapter of a quantised model in bf16, but a checkpoint is loaded back in
    # fp32, so a resumed run drifted from an uninterrupted one. fp32 adapter weights (bf16
    # autocast still does the maths on a GPU) make resume exact; they are a few MB.
    assert trainer.model is not None, "Trainer holds the model it was given (None only with model_init)"
    for param in trainer.model.parameters():
        if param.requires_grad:
            param.data = param.data.float()
    return trainer


def step_progress():
    """A TrainerCallback: our progress bar over optimizer steps (counts, ETA), and training and
    validation losses in our own log line, on the first process only."""
    from transformers import TrainerCallback

    from docs2qa.progress import track

    class StepProgress(TrainerCallback):
        def __init__(self) -> None:
            self._context = self._bar = None
            self._seen = 0

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero and self._context is None:
                self._seen = state.global_step  # a resumed run starts there
                self._context = track("finetune (steps)", state.max_steps, completed=self._seen)
                self._bar = self._context.__enter__()

        def on_step_end(self, args, state, control, **kwargs):
            if self._bar is not None:
                self._bar.advance(state.global_step - self._seen)
                self._seen = state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            names = (("loss", "loss"), ("eval_loss", "eval loss"), ("train_loss", "mean train loss"))
            parts = [f"{label} {float(logs[key]):.4f}" for key, label in names if key in logs]
            if parts:
                log.info("step %d/%d: %s", state.global_step, state.max_steps, ", ".join(parts))

        def on_train_end(self, args, state, control, **kwargs):
            self.close_progress()

        def close_progress(self) -> None:
            if self._context is not None:
                context, self._context, self._bar = self._context, None, None
                context.__exit__(None, None, None)

    return StepProgress()
