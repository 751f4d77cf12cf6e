"""The HTTP service: a FastAPI app around one loaded TopicClassifier.

    make serve                                   # runs/default/model on 127.0.0.1:8000
    python -m training serve --model runs/default/model --port 8080 --max-texts 64
    curl -s localhost:8000/predict -H 'content-type: application/json' \\
        -d '{"texts": ["US sanctions target Russian crude exports"]}'

Endpoints: POST /predict, POST /explain (which words drove each topic), GET /topics, GET /health, and the
OpenAPI docs at /docs. Bad input (not JSON, wrong types, an empty list, too many texts, a text over the
length cap, a threshold that is not a number in [0, 1], an unknown topic) gets a 422 whose message names
the field; the request limits are part of the schema.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations at run time,
# and the request model is a local class (its limits are per app).
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException

from training.inference import MODEL_ENV_VAR, TopicClassifier, find_model_dir

# The settings reach each uvicorn worker process through the environment (see `app_from_env`).
PRECISION_ENV_VAR = "TOPICS_PRECISION"
BACKEND_ENV_VAR = "TOPICS_BACKEND"
MAX_TEXTS_ENV_VAR = "TOPICS_MAX_TEXTS"
MAX_TEXT_CHARS_ENV_VAR = "TOPICS_MAX_TEXT_CHARS"


# Most texts one /explain request may carry (each costs one model call per word).
EXPLAIN_MAX_TEXTS = 16


@dataclass(frozen=True)
class RequestLimits:
    # One request is scored in one call; bigger jobs belong in `predict --input`, which streams.
    max_texts: int = 256
    # News snippets run to ~1,000 characters; the model reads only the first max_length word pieces
    # anyway, so a much longer text is almost certainly the wrong field.
    max_text_chars: int = 10_000


class TopicPrediction(BaseModel):
    labels: list[str] = Field(description="topics over their thresholds, highest score first; may be empty")
    scores: dict[str, float] = Field(description="every topic's score, in the model's topic order")


class WordWeight(BaseModel):
    word: str
    start: int = Field(description="character offset of the word in the text")
    end: int
    weight: float = Field(description="the word's share of the topic's logit (Shapley value): > 0 argues for it")


class TopicExplanation(TopicPrediction):
    words: dict[str, list[WordWeight]] = Field(
        description="per explained topic, the words that drove its score, strongest first (sampled Shapley values)"
    )


class ExplainResponse(BaseModel):
    explanations: list[TopicExplanation] = Field(description="one per text, in request order")


class PredictResponse(BaseModel):
    predictions: list[TopicPrediction] = Field(description="one per text, in request order")


class TopicInfo(BaseModel):
    name: str
    description: str
    threshold: float


class Health(BaseModel):
    status: str
    model: str
    backend: str
    precision: str
    topics: int


def create_app(classifier: TopicClassifier, model_dir: str | Path, limits: RequestLimits = RequestLimits()) -> FastAPI:
    Text = Annotated[StrictStr, StringConstraints(min_length=1, max_length=limits.max_text_chars)]
    # A number in [0, 1], as scoring.checked_threshold requires of predict(); JSON true is not a number.
    Threshold = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]

    class PredictRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        texts: list[Text] = Field(
            min_length=1, max_length=limits.max_texts, description="snippets to tag, at most max_texts"
        )
        threshold: Threshold | dict[str, Threshold] | None = Field(
            default=None,
            description="one threshold for every topic, or {topic: threshold}; default: the tuned ones",
        )

    class ExplainRequest(PredictRequest):
        # Each text is scored once per word: a few dozen model calls, so fewer texts per request.
        texts: list[Text] = Field(
            min_length=1,
            max_length=min(limits.max_texts, EXPLAIN_MAX_TEXTS),
            description=f"snippets to explain, at most {min(limits.max_texts, EXPLAIN_MAX_TEXTS)}",
        )
        topics: list[StrictStr] | None = Field(
            default=None, description="topics to explain; default: each text's predicted topics"
        )

    app = FastAPI(
        title="geotopics",
        summary="Multi-label news-topic tagging for geopolitics snippets",
        description=f"At most {limits.max_texts} texts per request, {limits.max_text_chars} characters each.",
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # Where and what, without pydantic's echo of the input: that may be a 10,000-character text,
        # or a NaN that JSON cannot encode (which would turn a 422 into a 500).
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # FastAPI answers a body it cannot decode at all (bytes that are not UTF-8, JSON nested past
        # Python's recursion limit) with a bare 400; every other unreadable body is a 422, so these are too.
        if error.status_code == 400:
            detail = [{"loc": ["body"], "msg": "JSON decode error: the body is not UTF-8 JSON", "type": "json_invalid"}]
            return JSONResponse(status_code=422, content={"detail": detail})
        return await http_exception_handler(request, error)

    # The fast tokenizer is not safe to call from several threads at once ("Already borrowed"), and
    # torch already uses every core for one batch, so requests take turns on the model.
    model_lock = threading.Lock()

    @app.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest) -> PredictResponse:
        try:
            with model_lock:
                predictions = classifier.predict(request.texts, threshold=request.threshold)
        except ValueError as e:  # an unknown topic in `threshold`
            raise HTTPException(status_code=422, detail=str(e)) from e
        return PredictResponse(predictions=[TopicPrediction(labels=p.labels, scores=p.scores) for p in predictions])

    @app.post("/explain", response_model=ExplainResponse)
    def explain(request: ExplainRequest) -> ExplainResponse:
        unknown = [t for t in request.topics or [] if t not in classifier.topics]
        if unknown:
            raise HTTPException(
                status_code=422, detail=f"unknown topic {unknown[0]!r}; topics: {', '.join(classifier.topics)}"
            )
        try:
            with model_lock:
                explained = [classifier.explain(text, threshold=request.threshold) for text in request.texts]
        except ValueError as e:  # an unknown topic in `threshold`
            raise HTTPException(status_code=422, detail=str(e)) from e
        return ExplainResponse(
            explanations=[
                TopicExplanation(
                    labels=e.labels,
                    scores=e.scores,
                    words={
                        topic: [WordWeight(**vars(a)) for a in e.words[topic] if a.weight > 0]
                        for topic in (request.topics if request.topics is not None else e.labels)
                    },
                )
                for e in explained
            ]
        )

    @app.get("/topics", response_model=list[TopicInfo])
    def topics() -> list[TopicInfo]:
        return [
            TopicInfo(name=n, description=classifier.descriptions[n], threshold=classifier.thresholds[n])
            for n in classifier.topics
        ]

    @app.get("/health", response_model=Health)
    def health() -> Health:
        return Health(
            status="ok",
            model=str(model_dir),
            backend=classifier.backend,
            precision=classifier.precision,
            topics=len(classifier.topics),
        )

    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory: every worker process loads the model named by the environment."""
    model_dir = find_model_dir()
    classifier = TopicClassifier.from_pretrained(
        model_dir, backend=os.environ.get(BACKEND_ENV_VAR, "torch"), precision=os.environ.get(PRECISION_ENV_VAR, "auto")
    )
    limits = RequestLimits(
        max_texts=int(os.environ.get(MAX_TEXTS_ENV_VAR, RequestLimits.max_texts)),
        max_text_chars=int(os.environ.get(MAX_TEXT_CHARS_ENV_VAR, RequestLimits.max_text_chars)),
    )
    return create_app(classifier, model_dir, limits)


def serve(
    model: str | None,
    host: str,
    port: int,
    workers: int,
    precision: str,
    limits: RequestLimits,
    backend: str = "torch",
) -> None:
    """Run uvicorn. One worker serves the model loaded here; several each load their own copy."""
    import uvicorn

    model_dir = find_model_dir(model)  # a missing model fails here, before any port is bound
    if workers == 1:
        classifier = TopicClassifier.from_pretrained(model_dir, backend=backend, precision=precision)
        uvicorn.run(create_app(classifier, model_dir, limits), host=host, port=port)
        return
    os.environ[MODEL_ENV_VAR] = str(model_dir)
    os.environ[PRECISION_ENV_VAR] = precision
    os.environ[BACKEND_ENV_VAR] = backend
    os.environ[MAX_TEXTS_ENV_VAR] = str(limits.max_texts)
    os.environ[MAX_TEXT_CHARS_ENV_VAR] = str(limits.max_text_chars)
    uvicorn.run("training.serve:app_from_env", factory=True, host=host, port=port, workers=workers)
