import pytest
import torch

from nlpbook import datasets


def test_read_imdb_directory_and_archive_agree(imdb_dir, imdb_tar):
    from_dir = datasets.read_imdb("train", imdb_dir)
    from_parent = datasets.read_imdb("train", imdb_dir.parent)
    from_tar = datasets.read_imdb("train", imdb_tar)
    assert from_dir == from_parent == from_tar
    # sorted by (label name, id): neg 0, neg 7, pos 3, pos 10
    assert [label for _, label in from_dir] == [0, 0, 1, 1]
    assert from_dir[0][0] == "Terrible. Just terrible."
    assert from_dir[3][0] == "Great acting, great story!"
    assert datasets.read_imdb("test", imdb_tar) == [
        ("Boring and far too long.", 0),
        ("Best movie of the year.", 1),
    ]


def test_read_imdb_bad_split_and_bad_path(imdb_dir, tmp_path):
    with pytest.raises(ValueError, match="no split 'valid'"):
        datasets.read_imdb("valid", imdb_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="not an aclImdb layout"):
        datasets.read_imdb("train", tmp_path / "empty")


def test_read_snli_skips_unlabelled_pairs(snli_dir):
    pairs = datasets.read_snli("dev", snli_dir)
    assert len(pairs) == 3
    assert pairs[0] == ("A man is playing a guitar .", "A person plays music .", 0)
    assert [label for *_, label in pairs] == [0, 2, 1]
    assert datasets.SNLI_LABELS[pairs[1][2]] == "contradiction"


def test_read_snli_missing_split_says_so(snli_dir):
    with pytest.raises(FileNotFoundError, match="train split is not present.*snli_1.0.zip"):
        datasets.read_snli("train", snli_dir)
    with pytest.raises(FileNotFoundError, match=r"python -m nlpbook doctor"):
        datasets.read_snli("train", snli_dir)
    with pytest.raises(ValueError, match="no split 'validation'"):
        datasets.read_snli("validation", snli_dir)


def test_read_snli_rejects_malformed_lines(tmp_path):
    folder = tmp_path / "snli_1.0"
    folder.mkdir()
    (folder / "snli_1.0_dev.jsonl").write_text('{"gold_label": "neutral"}\n')
    with pytest.raises(ValueError, match="snli_1.0_dev.jsonl:1: not an SNLI record"):
        datasets.read_snli("dev", folder)


def test_read_amazon_fasttext(fasttext_file):
    reviews = datasets.read_amazon_polarity(fasttext_file)
    assert [label for _, label in reviews] == [1, 0, 1]
    assert reviews[1][0].startswith("Batteries died within a year ...: I bought")
    assert len(datasets.read_amazon_polarity(fasttext_file, limit=2)) == 2


def test_read_amazon_csv(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text('"2","Nice","Works well.\\nRecommended"\n"1","","Broke on day one"\n')
    assert datasets.read_amazon_polarity(path) == [
        ("Nice: Works well. Recommended", 1),
        ("Broke on day one", 0),
    ]


def test_read_amazon_rejects_other_formats(tmp_path):
    path = tmp_path / "x.ft.txt"
    path.write_text("__label__3 what\n")
    with pytest.raises(ValueError, match=r"x.ft.txt:1: not a fastText polarity line"):
        datasets.read_amazon_polarity(path)


def test_exam_scores_are_reproducible_and_in_range():
    X, y = datasets.make_exam_scores()
    X2, y2 = datasets.make_exam_scores()
    assert X.shape == (100, 2) and y.shape == (100,)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    assert X.min() >= 30 and X.max() <= 100
    assert set(y.tolist()) == {0.0, 1.0}
    assert 0.35 < y.mean() < 0.65
    assert not torch.equal(datasets.make_exam_scores(seed=1)[0], X)


def test_exam_scores_overlap_like_the_original():
    # Logistic regression on the standardised scores lands near the original's 0.89.
    X, y = datasets.make_exam_scores()
    Xn = (X - X.mean(0)) / X.std(0)
    w = torch.zeros(2, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=1.0)
    for _ in range(500):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(Xn @ w + b, y).backward()
        opt.step()
    accuracy = ((Xn @ w + b > 0).float() == y).float().mean().item()
    assert 0.85 <= accuracy <= 0.92


# ---------------------------------------------------------------- bad input (issue 14)


def snli_folder(tmp_path, content: bytes):
    folder = tmp_path / "snli_1.0"
    folder.mkdir(exist_ok=True)
    (folder / "snli_1.0_dev.jsonl").write_bytes(content)
    return folder


GOOD_SNLI = b'{"gold_label": "neutral", "sentence1": "A b .", "sentence2": "C d ."}\n'


@pytest.mark.parametrize(
    "line, message",
    [
        (b'{"gold_label": "Entailment", "sentence1": "a", "sentence2": "b"}', "unknown label"),
        (b'{"gold_label": "neutral", "sentence1": 3, "sentence2": "b"}', "sentence1.*string"),
        (b'{"gold_label": "neutral", "sentence1": "a", "sentence2": null}', "sentence2.*string"),
        (b'["neutral", "a", "b"]', "not an SNLI record"),
        (b'{"gold_label": "neutral", "sentence1": "caf\xe9", "sentence2": "b"}', "UTF-8"),
    ],
)
def test_read_snli_bad_lines_name_file_and_line(tmp_path, line, message):
    folder = snli_folder(tmp_path, GOOD_SNLI + line + b"\n")
    with pytest.raises(ValueError, match=rf"snli_1.0_dev.jsonl:2: .*{message}"):
        datasets.read_snli("dev", folder)


def test_read_snli_bom_crlf_and_empty(tmp_path):
    folder = snli_folder(tmp_path, b"\xef\xbb\xbf" + GOOD_SNLI.replace(b"\n", b"\r\n") * 2)
    assert datasets.read_snli("dev", folder) == [("A b .", "C d .", 1)] * 2
    snli_folder(tmp_path, b"")
    with pytest.raises(ValueError, match="no SNLI dev pairs.*snli_1.0_dev.jsonl"):
        datasets.read_snli("dev", folder)


def test_read_amazon_bad_bytes_bom_crlf_and_empty(tmp_path):
    path = tmp_path / "x.ft.txt"
    path.write_bytes(b"__label__2 good\n__label__1 caf\xe9\n")
    with pytest.raises(ValueError, match=r"x.ft.txt:2: .*UTF-8"):
        datasets.read_amazon_polarity(path)
    path.write_bytes(b"\xef\xbb\xbf__label__2 good\r\n__label__1 bad\r\n")
    assert datasets.read_amazon_polarity(path) == [("good", 1), ("bad", 0)]
    csv_path = tmp_path / "x.csv"
    csv_path.write_bytes(b'\xef\xbb\xbf"2","T","good"\r\n"1","","b\xe9d"\r\n')
    with pytest.raises(ValueError, match=r"x.csv:2: .*UTF-8"):
        datasets.read_amazon_polarity(csv_path)
    csv_path.write_bytes(b'\xef\xbb\xbf"2","T","good"\r\n"1","","bad"\r\n')
    assert datasets.read_amazon_polarity(csv_path) == [("T: good", 1), ("bad", 0)]
    for empty in (path, csv_path):
        empty.write_bytes(b"")
        with pytest.raises(ValueError, match=rf"no Amazon polarity reviews in .*{empty.name}"):
            datasets.read_amazon_polarity(empty)


def imdb_with(tmp_path, raw: bytes, name="5_7.txt"):
    from conftest import make_tar_gz, write_imdb_tree

    base = write_imdb_tree(tmp_path / "src")
    (base / "train" / "pos" / name).write_bytes(raw)
    return base, make_tar_gz(base, tmp_path / "aclImdb_v1.tar.gz", "aclImdb")


def test_read_imdb_bad_bytes_name_the_file_in_both_sources(tmp_path):
    base, tar = imdb_with(tmp_path, b"caf\xe9 au lait")
    for source in (base, tar):
        with pytest.raises(ValueError, match=r"train/pos/5_7.txt.*UTF-8"):
            datasets.read_imdb("train", source)


def test_read_imdb_bom_and_crlf_agree_between_dir_and_tar(tmp_path):
    base, tar = imdb_with(tmp_path, b"\xef\xbb\xbfLine one.\r\nLine two.\r")
    from_dir, from_tar = datasets.read_imdb("train", base), datasets.read_imdb("train", tar)
    assert from_dir == from_tar
    assert ("Line one.\nLine two.\n", 1) in from_dir


def test_read_imdb_ignores_stray_files_in_both_sources(tmp_path):
    base, tar = imdb_with(tmp_path, b"notes", name="README.txt")
    assert datasets.read_imdb("train", base) == datasets.read_imdb("train", tar)
    assert len(datasets.read_imdb("train", base)) == 4


def test_read_imdb_truncated_archive_says_damaged(imdb_tar):
    imdb_tar.write_bytes(imdb_tar.read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"aclImdb_v1.tar.gz is damaged"):
        datasets.read_imdb("train", imdb_tar)


def test_read_amazon_a_field_too_long_for_csv_names_file_and_line(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text(f'"2","ok","fine"\n"1","long","{"x" * 200_000}"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"test.csv:2: not an Amazon polarity CSV row \(field"):
        datasets.read_amazon_polarity(path)


@pytest.mark.parametrize("limit", [-1, 1.5, True, "2"])
def test_read_amazon_refuses_a_limit_that_is_not_a_count(fasttext_file, limit):
    with pytest.raises(ValueError, match=rf"limit must be .* not {limit!r}"):
        datasets.read_amazon_polarity(fasttext_file, limit=limit)
