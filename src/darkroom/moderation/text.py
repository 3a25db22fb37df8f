"""The local text check of a prompt: the curated term lists, and a classifier for abusive language.

    warm_up()                                   # at start, in a thread: loads the classifier (~0.1 s
                                                # from its cache, ~1.5 s the first time: scikit-learn)
    check_text(prompt, "auto", threshold)       # -> the categories that block it; [] when it may run
    harassment_score(prompt)                    # the classifier's probability that the prompt is abusive

The terms (`terms.py`, data in `terms/*.toml`) decide every category; alt-profanity-check's
`predict_prob` (a linear SVM over TF-IDF of words, trained on abusive comments, bundled with its
package, offline) adds `harassment` when its probability reaches the level's threshold. It reads
the normalised prompt without the term files' allow phrases ("moby dick", "naked mole rat"), in
windows of 12 words overlapping by 6, and takes the highest: TF-IDF dilutes one insult in a long
prompt ("you worthless piece of shit" scores 1.0 alone, 0.65 after 20 words of scenery, 0.08 after
80), so a window keeps what a longer prompt says about someone as visible as a short prompt.

The classifier is the package's own model (a TF-IDF vectorizer and five calibrated LinearSVCs),
evaluated here by `AbuseClassifier` from the fitted numbers rather than through scikit-learn's
`predict_proba`: the same sums (tests/moderation/test_text.py checks equality to 1e-12 on ~700
prompts), in ~0.05 ms per window instead of ~3.3 ms, most of which was scikit-learn's per-call
checks. That is what lets a short prompt be checked on the event loop (`moderation/__init__.py`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
import os
import re
import threading
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import terms

# alt-profanity-check 1.9.1 on tests/moderation/classifier_prompts.py (`python -m tests.moderation.test_text`),
# prompts scoring at or above:        0.80   0.85   0.90   0.95   0.97   0.99
#   ordinary image prompts (446)         5      1      1      0      0      0
#   casual profanity, at nobody (30)    13     10      9      9      7      5
#   abuse at someone, no slurs (40)     33     33     31     28     24     20
# `auto` at 0.85 blocks 82% of abuse, a third of casual profanity ("a fucking beautiful sunset": 0.999;
# "a damn good cup of coffee": 0.35) and 1 ordinary prompt in 446 ("a pig roast at a barbecue": 0.94);
# `low` at 0.97 blocks only the surest: 60% of abuse, 23% of casual profanity, no ordinary prompt.
# The allow phrases matter: without them 9 ordinary prompts reached 0.85 ("Dick Van Dyke": 0.98,
# "pussy willow": 0.94; phrases found on this very set, so expect more such names elsewhere). Scoring
# whole prompts instead of windows catches 2 fewer abusive prompts at either threshold.
DEFAULT_HARASSMENT_THRESHOLD = {"auto": 0.85, "low": 0.97}
WINDOW_WORDS = 12

log = logging.getLogger(__name__)
_lock = threading.Lock()
_predict: Callable[[Sequence[str]], Sequence[float]] | None = None


def warm_up() -> None:
    """Load the classifier (unpickling the model) and compile the term lists, so that no request waits
    for either."""
    terms.lexicon()
    _classifier()


def _classifier() -> Callable[[Sequence[str]], Sequence[float]]:
    global _predict
    if _predict is None:
        with _lock:
            if _predict is None:
                _predict = AbuseClassifier.load().probabilities
    return _predict


class AbuseClassifier:
    """alt-profanity-check's fitted model, evaluated directly (the same maths as its `predict_prob`).

    The vectorizer is scikit-learn's TfidfVectorizer (lower case, tokens `\\b\\w\\w+\\b`, English stop
    words, unigrams, smooth idf, l2 norm); the model a CalibratedClassifierCV of 5 LinearSVCs with
    sigmoid calibration. For a text: x_j = count_j * idf_j / ||count * idf|| over its known words,
    then P(abusive) = mean over the 5 folds of 1 / (1 + exp(a_k * (w_k . x + c_k) + b_k)).
    """

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, coefficients: np.ndarray,
                 intercepts: np.ndarray, a: np.ndarray, b: np.ndarray, pattern: str) -> None:
        self._tokens = re.compile(pattern).findall
        # word -> (idf, its weight in each fold): one lookup per word, plain floats (a window has a
        # dozen words: Python arithmetic beats numpy's per-call cost at that size)
        self._words = {word: (float(idf[j]), tuple(float(w) for w in coefficients[:, j]))
                       for word, j in vocabulary.items()}
        self._folds = tuple(zip(intercepts.tolist(), a.tolist(), b.tolist(), strict=True))

    @classmethod
    def load(cls) -> AbuseClassifier:
        """The fitted numbers from the cache when it holds this package's model (~0.1 s), else from the
        package itself (~1.4 s: it imports scikit-learn and unpickles the model), then cached."""
        path = cache_path()
        if path is not None:
            try:
                with np.load(path, allow_pickle=False) as saved:
                    return cls.from_arrays({name: saved[name] for name in ARRAYS})
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                pass  # none yet, unreadable, cut short or from another layout: built again below
        arrays = fitted_arrays()
        if path is not None:
            _write_cache(path, arrays)
        return cls.from_arrays(arrays)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> AbuseClassifier:
        vocabulary = dict(zip(arrays["words"].tolist(), arrays["columns"].tolist(), strict=True))
        return cls(vocabulary, arrays["idf"], arrays["coefficients"], arrays["intercepts"], arrays["a"],
                   arrays["b"], str(arrays["pattern"]))

    def probability(self, text: str) -> float:
        """P(abusive) for one text."""
        counts: dict[str, int] = {}
        for token in self._tokens(text.lower()):
            if token in self._words:  # stop words and unknown words are not in the vocabulary
                counts[token] = counts.get(token, 0) + 1
        weighted = [(count * self._words[word][0], self._words[word][1]) for word, count in counts.items()]
        norm = math.sqrt(sum(weight * weight for weight, _ in weighted)) or 1.0
        total = 0.0
        for k, (intercept, a, b) in enumerate(self._folds):
            decision = intercept + sum(weight * fold_weights[k] for weight, fold_weights in weighted) / norm
            total += 1.0 / (1.0 + math.exp(a * decision + b))
        return total / len(self._folds)

    def probabilities(self, texts: Sequence[str]) -> list[float]:
        return [self.probability(text) for text in texts]


# The fitted numbers AbuseClassifier needs, as plain arrays (what the cache file holds).
ARRAYS = ("words", "columns", "idf", "coefficients", "intercepts", "a", "b", "pattern")
CACHE_LAYOUT = 1  # bump when ARRAYS or their meaning change


def fitted_arrays() -> dict[str, np.ndarray]:
    """alt-profanity-check's fitted vectorizer and model as ARRAYS; checks they are still the maths
    AbuseClassifier does."""
    from profanity_check import profanity_check as package  # scikit-learn and the unpickled model

    vectorizer, model = package.vectorizer, package.model
    params = vectorizer.get_params()
    if (params["analyzer"], params["ngram_range"], params["lowercase"], params["norm"], params["use_idf"],
            params["sublinear_tf"], params["binary"], params["preprocessor"], params["tokenizer"],
            params["strip_accents"]) != ("word", (1, 1), True, "l2", True, False, False, None, None, None):
        raise RuntimeError(f"alt-profanity-check's vectorizer changed ({params}); update AbuseClassifier")
    folds = model.calibrated_classifiers_
    if model.method != "sigmoid" or any(len(fold.calibrators) != 1 for fold in folds):
        raise RuntimeError("alt-profanity-check's model changed (not binary sigmoid calibration)")
    words = list(vectorizer.vocabulary_)
    return {
        "words": np.array(words, dtype=str), "columns": np.array([vectorizer.vocabulary_[w] for w in words]),
        "idf": np.asarray(vectorizer.idf_, dtype=np.float64),
        "coefficients": np.vstack([fold.estimator.coef_[0] for fold in folds]).astype(np.float64),
        "intercepts": np.array([fold.estimator.intercept_[0] for fold in folds], dtype=np.float64),
        "a": np.array([fold.calibrators[0].a_ for fold in folds], dtype=np.float64),
        "b": np.array([fold.calibrators[0].b_ for fold in folds], dtype=np.float64),
        "pattern": np.array(params["token_pattern"]),
    }


def cache_path() -> Path | None:
    """Where the fitted numbers of the installed alt-profanity-check are cached: $XDG_CACHE_HOME/darkroom
    (else ~/.cache/darkroom), in a file named after the package's model files (folder, sizes, times), so a
    reinstalled or upgraded package is read afresh. None when the package cannot be found."""
    spec = importlib.util.find_spec("profanity_check")  # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    stamp: list[object] = [CACHE_LAYOUT, str(data)]
    try:
        for name in ("model.joblib", "vectorizer.joblib"):
            stat = (data / name).stat()
            stamp += [name, stat.st_size, stat.st_mtime_ns]
    except OSError:
        return None
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "darkroom"
    return root / f"abuse-classifier-{hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]}.npz"


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write the cache atomically (a new name, then a rename); a folder that cannot be written only costs
    the next start its 1.4 s."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
        np.savez(partial, **arrays)
        os.replace(partial, path)
    except OSError as exc:
        log.info("moderation: could not cache the classifier's numbers in %s (%s)", path.parent, exc)


def harassment_score(prompt: str) -> float:
    """The classifier's probability (0..1) that `prompt` is abusive: the highest over its windows."""
    windows = _windows(terms.without_allowed(prompt))
    return float(max(_classifier()(windows))) if windows else 0.0


def _windows(text: str) -> list[str]:
    words = text.split()
    if len(words) <= WINDOW_WORDS:
        return [" ".join(words)] if words else []
    step = WINDOW_WORDS // 2
    return [" ".join(words[i:i + WINDOW_WORDS]) for i in range(0, len(words) - step, step)]


def check_text(prompt: str, level: str, harassment_threshold: float) -> list[str]:
    """The categories that block `prompt` at `level` ("auto" or "low"), in OpenAI's order; [] if none.

    `harassment_threshold` is the classifier's probability at or above which the prompt is
    `harassment` (DEFAULT_HARASSMENT_THRESHOLD[level] unless configured).
    """
    found = terms.match_terms(prompt, level)
    if "harassment" not in found and harassment_score(prompt) >= harassment_threshold:
        found = terms.in_order([*found, "harassment"])
    return found
