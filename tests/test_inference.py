import numpy as np
import pytest
import torch
from conftest import assert_same_prediction
from transformers import pipeline

from training import ModelNotFoundError, Prediction, TopicClassifier, predict
from training.inference import MODEL_ENV_VAR

OIL = "oil gas pipeline crude refinery grid report said"
TROOPS = "troops tanks drills missiles navy artillery officials said"


def test_predict_one_text_returns_one_prediction(tiny_run):
    p = predict(OIL, model=tiny_run["model_dir"])
    assert isinstance(p, Prediction)
    assert p.text == OIL
    assert set(p.scores) == {"energy", "military", "finance"}
    assert all(0.0 <= s <= 1.0 for s in p.scores.values())
    assert "energy" in p.labels and "military" not in p.labels


def test_predict_a_list_keeps_order_and_sorts_labels_by_score(tiny_run):
    texts = [TROOPS, OIL, f"{OIL} {TROOPS}", "the weather was fine"]
    out = predict(texts, model=tiny_run["model_dir"])
    assert [p.text for p in out] == texts
    assert "military" in out[0].labels and "energy" in out[1].labels
    for p in out:
        assert [p.scores[label] for label in p.labels] == sorted((p.scores[x] for x in p.labels), reverse=True)


def test_length_sorted_batches_give_the_same_scores_as_one_by_one(tiny_run):
    classifier = TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp32", batch_size=2)
    texts = ["short", OIL, f"{OIL} {TROOPS} {OIL}", TROOPS, "bank bonds"]
    together = classifier.score(texts)
    alone = np.vstack([classifier.score([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_threshold_overrides(tiny_run):
    classifier = TopicClassifier.from_pretrained(tiny_run["model_dir"])
    assert classifier.predict(OIL, threshold=0.0).labels.__len__() == 3
    assert classifier.predict(OIL, threshold=1.0).labels == []
    only_energy_off = classifier.predict(OIL, threshold={"energy": 1.0})
    assert "energy" not in only_energy_off.labels
    with pytest.raises(ValueError, match="unknown topic 'weather' in threshold; topics: energy, military, finance"):
        classifier.predict(OIL, threshold={"weather": 0.2})


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        (float("nan"), "threshold must be a number in \\[0, 1\\], got nan"),
        (1.5, "got 1.5"),
        (-0.1, "got -0.1"),
        (True, "got True"),
        ("0.3", "got '0.3'"),
        ({"trade": "x"}, "threshold\\['trade'\\] must be a number in \\[0, 1\\], got 'x'"),
        ({"energy": float("inf")}, "threshold\\['energy'\\] must be"),
    ],
)
def test_thresholds_are_numbers_in_0_1(tiny_run, threshold, message):
    classifier = TopicClassifier.from_pretrained(tiny_run["model_dir"])
    if isinstance(threshold, dict) and "trade" in threshold:
        threshold = {"finance": threshold["trade"]}  # the toy model's topics
        message = message.replace("trade", "finance")
    with pytest.raises(ValueError, match=message):
        classifier.predict(OIL, threshold=threshold)


def test_non_string_input_is_rejected(tiny_run):
    with pytest.raises(TypeError, match="text #1 is int"):
        predict(["fine", 3], model=tiny_run["model_dir"])


def test_no_model_yet_says_to_run_make_train(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV_VAR, str(tmp_path / "nothing"))
    with pytest.raises(ModelNotFoundError, match="run `make train` first"):
        predict("anything")


def test_env_var_selects_the_model(tiny_run, monkeypatch):
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_run["model_dir"]))
    assert set(predict(OIL).scores) == {"energy", "military", "finance"}


def test_saved_dir_loads_in_a_transformers_pipeline(tiny_run):
    classifier = TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp32")
    pipe = pipeline("text-classification", model=str(tiny_run["model_dir"]), top_k=None)
    out = pipe([OIL, TROOPS])
    ours = classifier.score([OIL, TROOPS])
    for row, expected in zip(out, ours, strict=True):
        got = {d["label"]: d["score"] for d in row}
        assert set(got) == {"energy", "military", "finance"}  # label names, not LABEL_0
        np.testing.assert_allclose([got[t] for t in classifier.topics], expected, atol=1e-5)  # sigmoid scores


def test_precision_auto_follows_the_cpu(tiny_run, monkeypatch):
    from training import device

    monkeypatch.setattr(device, "int8_linear_speedup", lambda: 1.0)  # int8 measured no faster: fp32 is the fallback
    for fast_bf16, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(device, "cpu_runs_bf16_fast", lambda fast_bf16=fast_bf16: fast_bf16)
        classifier = TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="auto")
        assert classifier.precision == expected
        # bf16: the encoder's weights are cast once; the head stays fp32 and scores come out as fp32.
        encoder_dtype = next(classifier.model.base_model.parameters()).dtype
        assert encoder_dtype == (torch.bfloat16 if fast_bf16 else torch.float32)
        assert classifier.model.classifier.weight.dtype == torch.float32
        assert classifier.score(["oil gas pipeline"]).dtype == np.float32
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, int8, not 'fp16'"):
        TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp16")


def test_int8_quantizes_the_encoder_but_not_the_head_or_the_early_ffn_outputs(tiny_run):
    classifier = TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="int8")
    still_fp32 = {name for name, m in classifier.model.named_modules() if type(m) is torch.nn.Linear}
    assert still_fp32 == {"classifier", "bert.encoder.layer.0.output.dense"}  # the tiny model has 2 layers
    quantized = [m for m in classifier.model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert len(quantized) == 2 * 6 - 1
    fp32 = TopicClassifier.from_pretrained(tiny_run["model_dir"], precision="fp32")
    texts = [OIL, TROOPS, "bank bonds currency"]
    np.testing.assert_allclose(classifier.score(texts), fp32.score(texts), atol=0.05)


@pytest.mark.slow
def test_openvino_export_scores_like_pytorch(tiny_run, tmp_path, capsys):
    import shutil

    from training.cli import main

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_run["model_dir"], model_dir)
    with pytest.raises(ModelNotFoundError, match="no OpenVINO export in .*: run `python -m training export"):
        TopicClassifier.from_pretrained(model_dir, backend="openvino")
    # The int8 copy is calibrated on the model's own training files by default; the tiny run's are the toy file.
    assert main(["export", "--format", "openvino", "--model", str(model_dir)]) == 0
    assert "quantizing an int8 copy on 240 calibration snippets" in capsys.readouterr().err
    assert (model_dir / "openvino" / "openvino_model.xml").is_file()
    assert (model_dir / "openvino" / "openvino_model_int8.xml").is_file()
    texts = [OIL, TROOPS, "bank bonds currency loan", "short"]
    reference = TopicClassifier.from_pretrained(model_dir, precision="fp32")
    exported = TopicClassifier.from_pretrained(model_dir, backend="openvino", precision="fp32")
    assert exported.backend == "openvino" and exported.precision == "fp32"
    np.testing.assert_allclose(exported.score(texts), reference.score(texts), atol=1e-4)
    for got, want in zip(exported.predict(texts), reference.predict(texts), strict=True):
        assert_same_prediction(got.labels, got.scores, want.labels, want.scores, reference.thresholds)
    # int8 moves scores a little (the default model's decisions: tests/test_parity.py), never the shape or order.
    int8 = TopicClassifier.from_pretrained(model_dir, backend="openvino", precision="int8")
    assert int8.precision == "int8"
    np.testing.assert_allclose(int8.score(texts), reference.score(texts), atol=0.1)


@pytest.mark.slow
def test_openvino_export_without_int8_or_calibration_texts(tiny_run, tmp_path, capsys):
    import shutil

    from training.cli import main

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_run["model_dir"], model_dir)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    assert main(["export", "--model", str(model_dir), "--calibration", str(empty)]) == 2
    err = capsys.readouterr().err
    assert f"no calibration texts for the int8 export in {empty}" in err and "--no-int8" in err
    assert not (model_dir / "openvino").exists()  # nothing half-written
    assert main(["export", "--model", str(model_dir), "--no-int8"]) == 0
    assert not (model_dir / "openvino" / "openvino_model_int8.xml").exists()
    with pytest.raises(ModelNotFoundError, match="no int8 OpenVINO export in .*without --no-int8"):
        TopicClassifier.from_pretrained(model_dir, backend="openvino", precision="int8")
    # auto never asks for an int8 copy that is not there
    assert TopicClassifier.from_pretrained(model_dir, backend="openvino").precision in ("fp32", "bf16")
