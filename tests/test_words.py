"""A stored model reads an item's words without scikit-learn, and reads them as scikit-learn
would: the same vector for any text, in any script."""

from __future__ import annotations

import subprocess
import sys

import numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from test_suggest import learned_examples

from digest.curation.learned import _VECTORIZER, LearnedModel
from digest.curation.words import Vectors, fold

CORPUS = [
    "Online grooming: offenders befriend children on social media",
    "Neglect and the home: children left without food or heating",
    "Café culture, naïve policies and the Straße: accents stripped",
    "Protección infantil en España y los niños",
    "Διαδικτυακή ασφάλεια των παιδιών στο σχολείο",
    "儿童保护 online safety for 儿童",
    "ＦＵＬＬＷＩＤＴＨ letters and ﬁ ligatures, ½ fractions, ² powers",
    "The the the THE repeated words repeated words words",
    "Kız çocukları İstanbul'da ıslak",
]

WORDS = st.sampled_from(
    [
        "child", "children", "online", "grooming", "café", "naïve", "ﬁne", "Straße", "ΣΧΟΛΕΊΟ",
        "儿童", "the", "and", "İstanbul", "ıslak", "x", "a1", "état", "ÉTAT", "-", "!", "½",
    ]
)  # fmt: skip
TEXTS = st.one_of(
    st.lists(WORDS, max_size=12).map(" ".join),
    st.text(max_size=60),
)


def fitted(corpus: list[str]) -> tuple[TfidfVectorizer, Vectors]:
    vectorizer = TfidfVectorizer(**_VECTORIZER)
    vectorizer.fit(corpus)
    return vectorizer, Vectors.fitted(vectorizer)


def as_dense(vectors: Vectors, texts: list[str]) -> numpy.ndarray:
    rows = vectors.of(texts)
    dense = numpy.zeros((len(texts), len(vectors.idf)))
    for n in range(len(rows)):
        start, end = rows.starts[n], rows.starts[n + 1]
        dense[n, rows.columns[start:end]] = rows.values[start:end]
    return dense


VECTORIZER, VECTORS = fitted(CORPUS)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXTS, min_size=1, max_size=5))
def test_any_text_gets_scikit_learns_vector(texts: list[str]) -> None:
    expected = VECTORIZER.transform(texts).toarray()
    numpy.testing.assert_allclose(as_dense(VECTORS, texts), expected, atol=1e-12)


def test_the_corpus_itself_and_texts_with_no_known_word() -> None:
    texts = [*CORPUS, "", "zzz qqq", "the and of"]
    numpy.testing.assert_allclose(
        as_dense(VECTORS, texts), VECTORIZER.transform(texts).toarray(), atol=1e-12
    )
    rows = VECTORS.of(["", "zzz"])
    assert list(rows.starts) == [0, 0, 0]


@given(st.text(max_size=40))
def test_folding_is_scikit_learns_lower_case_without_accents(text: str) -> None:
    assert fold(text) == VECTORIZER.build_preprocessor()(text)


def test_a_stored_model_is_applied_without_importing_scikit_learn(tmp_path) -> None:
    """Training imports it (over a second); every poll after reads the stored model."""

    texts, labels = learned_examples()
    model = LearnedModel.train(texts, labels, {1: "Online grooming", 2: "Neglect"})
    assert model is not None
    (tmp_path / "model.npz").write_bytes(model.to_bytes())
    program = (
        "import sys, pathlib\n"
        "from digest.curation.learned import LearnedModel\n"
        f"payload = pathlib.Path({str(tmp_path / 'model.npz')!r}).read_bytes()\n"
        "model = LearnedModel.from_bytes(payload, {1: 'Online grooming', 2: 'Neglect'})\n"
        "(found,) = model.suggest(['Offenders befriend children through gaming apps'])\n"
        "assert [s.topic_id for s in found] == [1], found\n"
        "assert 'sklearn' not in sys.modules, 'scikit-learn was imported'\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True)
