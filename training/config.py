"""YAML recipe -> dataclasses, with command-line overrides.

A recipe is one flat YAML file (see configs/default.yaml). Each key belongs to exactly one of
ModelArguments, DataArguments or transformers.TrainingArguments; an unknown key is an error, not a
silent no-op. Overrides come as `--key value` (or `--key=value`); values are parsed as YAML, so
`--num_train_epochs 3`, `--train_files '[a.jsonl, b.csv]'` and `--bf16 false` all work.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import TrainingArguments

from training.device import cpu_supports_bf16


class ConfigError(ValueError):
    """A recipe or override that cannot be used; the message names the file and the key."""


class RecipeLoader(yaml.SafeLoader):
    """YAML 1.2 scalars, as a recipe means them. PyYAML follows YAML 1.1, where `5e-5` (no dot) is a
    string that fails deep inside the optimizer and `--eval_strategy no` is the boolean False."""


RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str) -> Any:
    """A recipe file's text or one override value, parsed with RecipeLoader."""
    return yaml.load(text, Loader=RecipeLoader)


@dataclass
class ModelArguments:
    # A local Hugging Face model dir, or the name of a bundled model ("all-MiniLM-L6-v2"). Ignored
    # when tiny_model is set. Nothing is ever downloaded.
    model_name_or_path: str | None = "all-MiniLM-L6-v2"
    # Where the tokenizer comes from; defaults to model_name_or_path (the tiny model borrows MiniLM's).
    tokenizer_name_or_path: str | None = None
    # BertConfig keyword arguments for a randomly initialised model (tests and smoke runs).
    tiny_model: dict[str, Any] | None = None
    # "mean" averages token vectors (how all-MiniLM-L6-v2 was trained); "cls" uses BERT's [CLS] pooler.
    pooling: str = "mean"
    # Snippets are 1-3 sentences; 128 word pieces cover them with room to spare.
    max_length: int = 128
    # The freshly initialised head needs a much higher rate than the pretrained body.
    head_learning_rate: float = 5e-3
    classifier_dropout: float = 0.1
    # Few labels: batches of same/different-topic pairs tune the encoder before the head (SetFit); 0 = off.
    contrastive_steps: int = 0
    # SetFit's encoder rate: the pair stage reshapes MiniLM's sentence space without wrecking it.
    contrastive_learning_rate: float = 2e-5
    # "prototypes": a frozen nearest-prototype head (training.fewshot); few labels train a linear head badly.
    head: str = "linear"


@dataclass
class DataArguments:
    # Labeled files (JSONL, CSV or Parquet); glob patterns allowed. Relative paths are from the repo root.
    train_files: list[str] = field(default_factory=lambda: ["data/snippets/*.jsonl"])
    topics_file: str | None = "data/topics.yaml"
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 13
    # Blind evaluation files (glob patterns), scored after training and never trained on: written and
    # labeled apart from train_files, they estimate what the test split cannot (it shares their authors).
    # A pattern that matches nothing is skipped.
    eval_files: list[str] = field(default_factory=list)
    # "auto" weights each topic's positives by sqrt(negatives/positives) (capped): rare topics get
    # enough gradient without the false-positive flood a full ratio causes. "none" disables it.
    pos_weight: str = "auto"
    # Tuned thresholds are pulled this far back towards 0.5 (0 = keep tuned, 1 = always 0.5).
    threshold_shrinkage: float = 0.5
    # Stop when validation macro-F1 has not improved for this many evaluations.
    early_stopping_patience: int = 3
    # Few labels: each topic's description is one more labeled text and half of its prototype (fewshot.py).
    descriptions_as_examples: bool = False


@dataclass
class Config:
    name: str
    model: ModelArguments
    data: DataArguments
    training: TrainingArguments
    source: dict[str, Any]  # the resolved flat recipe, saved beside the model

    @property
    def model_dir(self) -> Path:
        return Path(self.training.output_dir) / "model"


# Defaults that differ from TrainingArguments' own because this is a small CPU classification job.
TRAINING_DEFAULTS: dict[str, Any] = {
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "logging_strategy": "epoch",
    "load_best_model_at_end": True,
    "metric_for_best_model": "macro_f1",
    "greater_is_better": True,
    "save_total_limit": 1,
    "report_to": "none",
    "use_cpu": "auto",  # CPU unless CUDA is available
    "bf16": "auto",
    "dataloader_pin_memory": False,  # no GPU to pin for; silences a warning per epoch
}


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init}


def parse_overrides(argv: list[str]) -> dict[str, Any]:
    """`--key value` / `--key=value` pairs -> {key: YAML-parsed value}."""
    overrides: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise ConfigError(f"override {arg!r} must look like --key value")
        key, sep, value = arg[2:].partition("=")
        if not sep:
            if i + 1 >= len(argv):
                raise ConfigError(f"override --{key} has no value")
            value = argv[i + 1]
            i += 1
        overrides[key.replace("-", "_")] = parse_yaml(value)
        i += 1
    return overrides


def load_config(path: str | Path, overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """Read a YAML recipe, apply overrides, and build the three argument dataclasses."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        recipe = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(recipe, dict):
        raise ConfigError(f"{path}: a recipe is a mapping of key: value")
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    flat = {**recipe, **(overrides or {})}

    model_keys, data_keys = _fields(ModelArguments), _fields(DataArguments)
    training_keys = _fields(TrainingArguments)
    for key in flat:
        if key not in model_keys | data_keys | training_keys:
            close = difflib.get_close_matches(key, model_keys | data_keys | training_keys, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            origin = "override" if overrides and key in overrides else str(path)
            raise ConfigError(f"{origin}: unknown config key {key!r}{hint}")

    name = path.stem
    training_kwargs = {**TRAINING_DEFAULTS, "output_dir": f"runs/{name}"}
    training_kwargs.update({k: v for k, v in flat.items() if k in training_keys})
    if training_kwargs["use_cpu"] == "auto":
        training_kwargs["use_cpu"] = not _cuda_available()
    if training_kwargs["bf16"] == "auto":
        # bf16 autocast is ~3x faster only on CPUs with native bf16 (AMX / avx512-bf16); elsewhere it
        # is emulated and slower, so fp32 is the safe default.
        training_kwargs["bf16"] = cpu_supports_bf16() and not _cuda_available()
    try:
        model_args = ModelArguments(**{k: v for k, v in flat.items() if k in model_keys})
        data_args = DataArguments(**{k: v for k, v in flat.items() if k in data_keys})
        if isinstance(data_args.train_files, str):
            data_args.train_files = [data_args.train_files]
        if isinstance(data_args.eval_files, str):
            data_args.eval_files = [data_args.eval_files]
        training_args = TrainingArguments(**training_kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from e
    if model_args.pooling not in ("mean", "cls"):
        raise ConfigError(f"{path}: pooling must be 'mean' or 'cls', not {model_args.pooling!r}")
    if model_args.head not in ("linear", "prototypes"):
        raise ConfigError(f"{path}: head must be 'linear' or 'prototypes', not {model_args.head!r}")
    uses_sentence_vectors = model_args.contrastive_steps or model_args.head == "prototypes"
    if uses_sentence_vectors and model_args.pooling != "mean":
        raise ConfigError(f"{path}: contrastive_steps and head: prototypes need pooling: mean")
    if model_args.tiny_model is None and not model_args.model_name_or_path:
        raise ConfigError(f"{path}: set model_name_or_path or tiny_model")
    resolved = {**training_kwargs, **dataclasses.asdict(model_args), **dataclasses.asdict(data_args)}
    return Config(name=name, model=model_args, data=data_args, training=training_args, source=resolved)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
