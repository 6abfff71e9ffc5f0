"""Text features of the trained models (moderation.features)."""

import numpy as np
import pytest

from moderation.features import FeatureParams, Featurizer, FoldedLinear, analyze, build_vocabulary, tokens

TEXTS = [
    "@ShopHelp my order #12345 NEVER arrived!!! https://t.co/abc",
    "Sooooo happy with the new phone 😍",
    "It\u2019s not working, it\u2019s broken",
    "I don't like it and won't buy it_neg again. Not bad",
    "",
    "!!!",
    "ok",
]


def test_tokens_normalise_links_mentions_digits_and_elongation():
    assert tokens(TEXTS[0]) == ["@user", "my", "order", "#000", "never", "arrived", "!", "!", "!", "url"]
    assert tokens(TEXTS[1])[:2] == ["sooo", "happy"]
    assert tokens(TEXTS[1])[-1] == "😍"
    assert tokens(TEXTS[2])[:2] == ["it's", "not"]


def test_negation_marks_the_words_after_a_negator_up_to_the_clause_end():
    assert tokens("I don't like it, but ok", negation=True) == [
        "i",
        "don't",
        "like_neg",
        "it_neg",
        ",",
        "but",
        "ok",
    ]
    assert tokens("never again!! dont care; no way", negation=True) == [
        "never",
        "again_neg",
        "!",
        "!",
        "dont",
        "care_neg",
        ";",
        "no",
        "way_neg",
    ]
    # Mentions, hashtags and emoji in a scope stay as they are; a negator inside a scope is marked.
    assert tokens("not @Shop #fail 😍 not good", negation=True) == [
        "not",
        "@user",
        "#fail",
        "😍",
        "not_neg",
        "good_neg",
    ]
    assert tokens("I don't like it") == ["i", "don't", "like", "it"]


def test_analyze_names_word_and_character_grams():
    names = analyze("Not working", FeatureParams((1, 2), (3, 3), negation=False))
    assert names[:3] == ["w:not", "w:working", "w:not working"]
    assert "c: no" in names and "c:ng " in names and "c:ork" in names


def test_a_negated_word_has_its_own_word_grams_and_the_plain_words_char_grams():
    params = FeatureParams((1, 2), (3, 3))
    names = analyze("Not working", params)
    assert names[:3] == ["w:not", "w:working_neg", "w:not working_neg"]
    chars = [name for name in names if name.startswith("c:")]
    assert chars == [
        name for name in analyze("not working", FeatureParams((1, 1), (3, 3), False)) if name.startswith("c:")
    ]


def test_build_vocabulary_keeps_grams_seen_in_min_df_texts():
    vocabulary = build_vocabulary(
        ["red car", "red bike", "blue car"], FeatureParams((1, 1), (0, 0)), min_df=2
    )
    assert vocabulary == ["w:car", "w:red"]


def test_feature_params_validate_and_round_trip():
    params = FeatureParams((1, 3), (0, 0))
    assert FeatureParams.from_json(params.to_json()) == params
    assert params.to_json()["negation"] is True
    plain = FeatureParams((1, 2), (2, 5), negation=False)
    assert FeatureParams.from_json(plain.to_json()) == plain
    with pytest.raises(ValueError, match="negation must be true or false"):
        FeatureParams.from_json({"word_ngrams": [1, 2], "char_ngrams": [2, 5]})
    with pytest.raises(ValueError, match="negation must be true or false"):
        FeatureParams.from_json({"word_ngrams": [1, 2], "char_ngrams": [2, 5], "negation": 1})
    with pytest.raises(ValueError, match="char_ngrams"):
        FeatureParams((1, 2), (3, 2))
    with pytest.raises(ValueError, match="word_ngrams must be a list of two integers"):
        FeatureParams.from_json({"word_ngrams": [1], "char_ngrams": [2, 5], "negation": True})
    with pytest.raises(ValueError, match="unknown field"):
        FeatureParams.from_json({"word_ngrams": [1, 2], "char_ngrams": [2, 5], "lowercase": True})


def test_values_are_counts_over_the_square_root_of_the_block_size():
    featurizer = Featurizer(FeatureParams((1, 1), (0, 0)), ["w:red"])
    rows = featurizer.transform(["red red blue car"])
    # Two "red" entries of 1/sqrt(4) each; "blue" and "car" are unknown but count in the norm.
    assert rows.indices.tolist() == [0, 0]
    assert rows.values.tolist() == [0.5, 0.5]


@pytest.mark.parametrize(
    "params",
    [
        FeatureParams((1, 2), (2, 5)),
        FeatureParams((1, 2), (2, 5), negation=False),
        FeatureParams((2, 3), (0, 0)),
        FeatureParams((0, 0), (1, 3)),
    ],
)
def test_folded_linear_equals_the_sparse_product_and_ignores_batching(params):
    vocabulary = build_vocabulary(TEXTS * 2, params, min_df=1)
    featurizer = Featurizer(params, vocabulary[::2])  # some grams unknown
    weights = np.random.default_rng(7).normal(size=(featurizer.size, 3))
    rows = featurizer.transform(TEXTS)
    expected = np.zeros((len(TEXTS), 3))
    for i in range(len(TEXTS)):
        for j in range(rows.indptr[i], rows.indptr[i + 1]):
            expected[i] += rows.values[j] * weights[rows.indices[j]]
    folded = FoldedLinear(featurizer, weights)
    batch = folded.logits(TEXTS)
    np.testing.assert_allclose(batch, expected, rtol=1e-12, atol=1e-12)
    alone = np.vstack([FoldedLinear(featurizer, weights).logits([text]) for text in reversed(TEXTS)])[::-1]
    assert (alone == batch).all()
    assert (folded.logits(TEXTS) == batch).all()  # cached word sums give the same numbers
    assert folded.logits([]).shape == (0, 3)
