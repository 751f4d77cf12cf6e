"""YAML recipe -> three argument dataclasses, parsed the Hugging Face way.

A recipe is one flat YAML file (see configs/default.yaml). Each key is a field of ModelArguments,
DataArguments or TopicTrainingArguments (transformers.TrainingArguments plus this package's training
keys). Recipe values and `--key value` overrides go through one `HfArgumentParser`, so every key has
a type, its choices and a help text (`python -m training train --help` lists them all), and a value
of the wrong type, outside its range or not among its choices is an error that names the key and
where it came from, before anything is written. An unknown key is an error too, not a silent no-op.

Overrides are parsed as YAML 1.2 scalars first, so `--num_train_epochs 3`, `--learning_rate 5e-5`,
`--train_files '[a.jsonl, b.csv]'` and `--bf16 false` all work.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import yaml
from transformers import HfArgumentParser, TrainingArguments

from training.data import DataArguments
from training.device import cpu_runs_bf16_fast
from training.errors import ConfigError, require


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
    model_name_or_path: str | None = field(
        default="all-MiniLM-L6-v2",
        metadata={"help": "a local model dir, or a bundled model name; never downloaded; ignored with tiny_model"},
    )
    tokenizer_name_or_path: str | None = field(
        default=None, metadata={"help": "where the tokenizer comes from (default: model_name_or_path)"}
    )
    tiny_model: dict | str | None = field(
        default=None,
        metadata={"help": "BertConfig keyword arguments for a randomly initialised model (tests, smoke runs)"},
    )
    pooling: Literal["cls", "mean"] = field(
        default="cls",
        metadata={"help": "sentence vector: BERT's [CLS] pooler, or the mean over tokens (how MiniLM was trained)"},
    )
    max_length: int = field(
        default=128, metadata={"help": "word pieces per snippet; 1-3 sentences fit with room to spare"}
    )
    classifier_dropout: float = field(default=0.1, metadata={"help": "dropout before the head, as MiniLM's own"})
    head: Literal["linear", "prototypes"] = field(
        default="linear",
        metadata={"help": "prototypes: a frozen nearest-prototype head, refitted after fine-tuning (few labels)"},
    )

    def __post_init__(self):
        if isinstance(self.tiny_model, str):
            self.tiny_model = parse_yaml(self.tiny_model)
        require(
            self.tiny_model is None or isinstance(self.tiny_model, dict),
            f"tiny_model must be a mapping of BertConfig keyword arguments, got {self.tiny_model!r}",
        )
        require(bool(self.tiny_model or self.model_name_or_path), "set model_name_or_path or tiny_model")
        require(not self.tiny_model or bool(self.tokenizer_name_or_path), "tiny_model needs tokenizer_name_or_path")
        require(self.max_length >= 1, f"max_length must be at least 1, got {self.max_length}")
        require(
            0 <= self.classifier_dropout < 1, f"classifier_dropout must be in [0, 1), got {self.classifier_dropout}"
        )


# Defaults that differ from TrainingArguments' own because this is a small CPU classification job.
@dataclass
class TopicTrainingArguments(TrainingArguments):
    head_learning_rate: float = field(
        default=5e-3,
        metadata={"help": "learning rate of the fresh head (and BERT's pooler); learning_rate is the body's"},
    )
    pos_weight: Literal["sqrt", "cbrt", "none"] = field(
        default="sqrt",
        metadata={
            "help": "per-topic BCE weight of positives: sqrt or cbrt of negatives/positives (capped at 10), or none"
        },
    )
    threshold_shrinkage: float = field(
        default=0.5, metadata={"help": "how far tuned thresholds are pulled back to 0.5 (0: keep, 1: always 0.5)"}
    )
    early_stopping_patience: int = field(
        default=3, metadata={"help": "evaluations without a better validation macro-F1 before stopping"}
    )
    contrastive_steps: int = field(
        default=0, metadata={"help": "few labels: batches of a SetFit-style contrastive stage before fine-tuning"}
    )
    contrastive_learning_rate: float = field(default=2e-5, metadata={"help": "the contrastive stage's encoder rate"})
    descriptions_as_examples: bool = field(
        default=False, metadata={"help": "few labels: each topic's description joins as one more labeled example"}
    )
    baselines: bool = field(
        default=True,
        metadata={"help": "fit the TF-IDF and frozen-MiniLM baselines for the report (~25 s); false skips them"},
    )
    # TrainingArguments keys with this package's defaults.
    output_dir: str | None = field(default=None, metadata={"help": "runs/<recipe name> unless given"})
    eval_strategy: str = field(default="epoch", metadata={"help": "evaluate validation macro-F1 every epoch"})
    save_strategy: str = field(default="epoch", metadata={"help": "checkpoint every epoch (resume, best model)"})
    logging_strategy: str = field(default="epoch", metadata={"help": "log the training loss every epoch"})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "keep the best-validation epoch"})
    metric_for_best_model: str | None = field(default="macro_f1", metadata={"help": "what 'best' means"})
    greater_is_better: bool | None = field(default=True, metadata={"help": "macro-F1: higher is better"})
    save_total_limit: int | None = field(default=1, metadata={"help": "checkpoints kept besides the best one"})
    report_to: str | None = field(default="none", metadata={"help": "no experiment trackers"})
    bf16: str = field(
        default="auto",
        metadata={
            "help": "auto: bf16 autocast where the CPU runs bf16 faster than fp32 (measured at start), else fp32; "
            "true; false"
        },
    )
    dataloader_pin_memory: bool = field(default=False, metadata={"help": "no GPU to pin for"})

    def __post_init__(self):
        # Keys TrainingArguments accepts that would reach the network, which this package never does.
        require(not self.push_to_hub, "push_to_hub: this package never reaches a model hub (save, then copy the dir)")
        require(
            self.report_to in (None, "none", [], ["none"]),
            f"report_to must be none (experiment trackers reach the network), got {self.report_to!r}",
        )
        self.bf16 = _resolve_bf16(self.bf16)
        if not _cuda_available():
            # Told it is on a CPU, the Trainer allows bf16 there and runs DDP over gloo (MULTI_CPU).
            self.use_cpu = True
        for key in ("learning_rate", "head_learning_rate", "contrastive_learning_rate"):
            require(getattr(self, key) > 0, f"{key} must be > 0, got {getattr(self, key)}")
        require(
            self.num_train_epochs > 0 or self.max_steps > 0,
            f"num_train_epochs must be > 0 (or max_steps set), got {self.num_train_epochs}",
        )
        for key in ("per_device_train_batch_size", "per_device_eval_batch_size", "early_stopping_patience"):
            require(getattr(self, key) >= 1, f"{key} must be at least 1, got {getattr(self, key)}")
        require(self.contrastive_steps >= 0, f"contrastive_steps must be >= 0, got {self.contrastive_steps}")
        require(
            0 <= self.threshold_shrinkage <= 1, f"threshold_shrinkage must be in [0, 1], got {self.threshold_shrinkage}"
        )
        require(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        require(self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}")
        require(
            0 <= self.label_smoothing_factor < 1,
            f"label_smoothing_factor must be in [0, 1), got {self.label_smoothing_factor}",
        )
        super().__post_init__()


def _resolve_bf16(value: str | bool) -> bool:
    """bf16 autocast is ~2-3x faster on CPUs that run bf16 fast (AMX; AMD's avx512-bf16); elsewhere it is
    emulated, or native but slow (a Xeon guest without AMX: training took 2.2x fp32's time), so "auto" is
    fp32 there (and on GPUs, where `--bf16 true` turns it on). training.device measures which it is."""
    text = str(value).lower()
    require(text in ("auto", "true", "false"), f"bf16 must be auto, true or false, got {value!r}")
    if text == "auto":
        return cpu_runs_bf16_fast() and not _cuda_available()
    return text == "true"


@dataclass
class Config:
    name: str
    model: ModelArguments
    data: DataArguments
    training: TopicTrainingArguments
    source: dict[str, Any]  # the resolved flat recipe, saved beside the model

    @property
    def model_dir(self) -> Path:
        return Path(self.training.output_dir) / "model"


class RecipeParser(HfArgumentParser):
    """HfArgumentParser over the three dataclasses whose errors raise instead of exiting."""

    def __init__(self):
        super().__init__(
            (ModelArguments, DataArguments, TopicTrainingArguments),
            prog="python -m training train",
            usage="python -m training train [--config FILE] [--resume] [--KEY VALUE ...]",
            description="Train a model from a YAML recipe. Every key below can be set in the recipe or "
            "overridden here; --resume continues from the last checkpoint in output_dir.",
        )
        for action in self._actions:
            if action.nargs == "+":  # lists may be empty: eval_files: []
                action.nargs = "*"

    def error(self, message: str):
        raise ConfigError(message)

    def keys(self) -> set[str]:
        return {a.dest for a in self._actions if a.dest != "help"}


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
            if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
                raise ConfigError(f"override --{key} has no value")
            value = argv[i + 1]
            i += 1
        overrides[key.replace("-", "_")] = parse_yaml(value)
        i += 1
    return overrides


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _parse(
    parser: RecipeParser, values: dict[str, Any]
) -> tuple[ModelArguments, DataArguments, TopicTrainingArguments]:
    """Typed, validated dataclasses from flat recipe values (already YAML-parsed)."""
    list_keys = {a.dest for a in parser._actions if a.nargs == "*"}
    tokens, nulls = [], []
    for key, value in values.items():
        if value is None:
            nulls.append(key)
        elif key in list_keys:
            tokens += [f"--{key}", *map(_scalar, value if isinstance(value, list) else [value])]
        elif isinstance(value, list):
            raise ConfigError(f"{key} takes one value, got a list {value!r}")
        else:
            tokens += [f"--{key}", _scalar(value)]
    namespace = parser.parse_args(tokens)
    for key in nulls:
        setattr(namespace, key, None)
    built = []
    for cls in parser.dataclass_types:
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        built.append(cls(**{k: v for k, v in vars(namespace).items() if k in names}))
    return tuple(built)


def load_config(path: str | Path, overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """Read a YAML recipe, apply overrides, and build the three argument dataclasses; ConfigError names the
    file (or "override") and the key of the first value that cannot be used."""
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
    overrides = overrides or {}
    parser = RecipeParser()
    keys = parser.keys()
    for origin, values in ((str(path), recipe), ("override", overrides)):
        for key in values:
            if key not in keys:
                close = difflib.get_close_matches(key, keys, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise ConfigError(f"{origin}: unknown config key {key!r}{hint}")

    name = path.stem
    defaults = {"output_dir": f"runs/{name}"}
    # The recipe alone first, so that an error in it names the file rather than the overrides.
    for origin, values in ((str(path), {**defaults, **recipe}), ("override", {**defaults, **recipe, **overrides})):
        try:
            model_args, data_args, training_args = _parse(parser, values)
        except (ConfigError, ValueError, TypeError, argparse.ArgumentTypeError) as e:
            raise ConfigError(f"{origin}: {e}") from e
    uses_sentence_vectors = training_args.contrastive_steps or model_args.head == "prototypes"
    if uses_sentence_vectors and model_args.pooling != "mean":
        raise ConfigError(f"{path}: contrastive_steps and head: prototypes need pooling: mean")
    training_keys = {f.name for f in dataclasses.fields(TopicTrainingArguments)}
    resolved = {**dataclasses.asdict(model_args), **dataclasses.asdict(data_args)}
    for key in (*TRAINING_KEYS_SAVED, *recipe, *overrides):
        if key in training_keys:
            value = getattr(training_args, key)
            resolved[key] = value.value if isinstance(value, Enum) else value
    return Config(name=name, model=model_args, data=data_args, training=training_args, source=resolved)


# The training keys written into a model dir's training_config.yaml beside the recipe's own keys: what
# `make evaluate` needs to rebuild the baselines, and the numbers that decide the result.
TRAINING_KEYS_SAVED = (
    "output_dir",
    "bf16",
    "head_learning_rate",
    "pos_weight",
    "threshold_shrinkage",
    "early_stopping_patience",
    "learning_rate",
    "num_train_epochs",
    "per_device_train_batch_size",
    "seed",
)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
