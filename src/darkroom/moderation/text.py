"""The local text check of a prompt: the curated term lists, and a classifier for abusive language.

    warm_up()                                   # at start, in a thread: loads the classifier (~1.5 s)
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

import math
import re
import threading
from collections.abc import Callable, Sequence

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
        # ~1.4 s: imports scikit-learn and unpickles the model (the package loads both at import).
        from profanity_check import profanity_check as package

        vectorizer, model = package.vectorizer, package.model
        params = vectorizer.get_params()
        if (params["analyzer"], params["ngram_range"], params["lowercase"], params["norm"], params["use_idf"],
                params["sublinear_tf"], params["binary"], params["preprocessor"], params["tokenizer"],
                params["strip_accents"]) != ("word", (1, 1), True, "l2", True, False, False, None, None, None):
            raise RuntimeError(f"alt-profanity-check's vectorizer changed ({params}); update AbuseClassifier")
        folds = model.calibrated_classifiers_
        if model.method != "sigmoid" or any(len(fold.calibrators) != 1 for fold in folds):
            raise RuntimeError("alt-profanity-check's model changed (not binary sigmoid calibration)")
        return cls(
            vectorizer.vocabulary_, vectorizer.idf_,
            np.vstack([fold.estimator.coef_[0] for fold in folds]),
            np.array([fold.estimator.intercept_[0] for fold in folds]),
            np.array([fold.calibrators[0].a_ for fold in folds]), np.array([fold.calibrators[0].b_ for fold in folds]),
            params["token_pattern"])

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
