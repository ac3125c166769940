import random
import time

from moderation.automaton import Automaton
from moderation.words import MASK, WordList, normalise


def test_automaton_finds_every_overlapping_match():
    automaton = Automaton(["he", "she", "his", "hers"])
    found = sorted((s, e, automaton.patterns[i]) for s, e, i in automaton.find("ushers"))
    assert found == [(1, 4, "she"), (2, 4, "he"), (2, 6, "hers")]


def test_automaton_matches_a_naive_search_on_random_text():
    rng = random.Random(7)
    alphabet = "ab敏感词"
    patterns = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))) for _ in range(30)]
    automaton = Automaton(patterns)
    for _ in range(50):
        text = "".join(rng.choice(alphabet) for _ in range(60))
        expected = sorted((i, i + len(p), p) for p in set(patterns) for i in range(len(text)) if text.startswith(p, i))
        got = sorted({(s, e, automaton.patterns[i]) for s, e, i in automaton.find(text)})
        assert got == expected


def test_normalisation_folds_width_case_and_skips_spaces_and_invisibles():
    assert normalise("ＡＢＣ ｄｅ\u200bF")[0] == "abcdef"
    text, origin = normalise("a Ｂ")
    assert text == "ab" and origin == [0, 2]


def test_mixed_chinese_english_screening_with_exact_masking():
    words = WordList([("代购", "review"), ("fake", "mask"), ("赌博", "block"), ("傻瓜", "mask")])
    result = words.screen("这个是ＦＡＫＥ货吗？找代购，不要傻 瓜，也别赌\u200b博")
    assert result.blocked == ["赌博"]
    assert result.review == ["代购"]
    assert sorted(result.masked) == ["fake", "傻瓜"]
    assert result.text == f"这个是{MASK * 4}货吗？找代购，不要{MASK} {MASK}，也别赌\u200b博"
    clean = words.screen("Everything is fine 一切正常")
    assert (clean.blocked, clean.review, clean.masked, clean.text) == ([], [], [], "Everything is fine 一切正常")


def test_screening_is_linear_in_text_not_in_word_count():
    rng = random.Random(1)
    vocabulary = [f"词{rng.randrange(10**6)}x" for _ in range(10000)]
    words = WordList([(w, "mask") for w in vocabulary])
    text = "".join(rng.choice("今天天气很好我们去搭积木吧abc ") for _ in range(20000)) + vocabulary[42]
    started = time.perf_counter()
    result = words.screen(text)
    assert time.perf_counter() - started < 1.0
    assert result.masked == [vocabulary[42]]


def test_traditional_spellings_of_a_listed_word_are_caught_and_masked_exactly():
    from moderation.words import WordList

    words = WordList([("赌博", "mask"), ("代购", "block")])
    screened = words.screen("一起來賭博吧，還有代購")
    assert screened.text == "一起來＊＊吧，還有代購" and screened.masked == ["赌博"] and screened.blocked == ["代购"]
    assert WordList([("賭博", "block")]).screen("赌博").blocked == ["賭博"]  # a Traditional entry catches Simplified
