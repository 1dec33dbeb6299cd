"""The dataset registry: every dataset the chapters use, where it comes from, and its checksums.

Canonical URLs and checksums are those listed in the offline mirror's README
(`shared/data/README.md`). Introduced in chapter 01; every chapter reads through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
                Source(
                    "aclImdb_v1.tar.gz",
                    "sha256:c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
                    ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
                    size=84_125_825,
                ),
                # The offline mirror's repack of the labelled part (no unsup/, no *.feat).
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
                Source(
                    "snli_1.0.zip",
                    "md5:981c3df556bbaea3f17f752456d0088c",
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
                Source(
                    "amazon_review_polarity_csv.tar.gz",
                    "md5:fe39f8b653cada45afd5792e0f0e8f9b",
                    (
                        "https://s3.amazonaws.com/fast-ai-nlp/amazon_review_polarity_csv.tgz",
                        "https://drive.google.com/uc?export=download&id=0Bz8a_Dbh9QhbaW12WVVZS2drcnM",
                    ),
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
                Source(
                    "glove.6B.zip",
                    "sha256:617afb2fe6cbd085c235baf7a465b96f4112bd7f7ccb2b2cbd649fed9cbcf2fb",
                    ("https://nlp.stanford.edu/data/glove.6B.zip",),
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
                Source(
                    "glove.840B.300d.zip",
                    "sha256:c06db255e65095393609f19a4cfca20bf3a71e20cc53e892aafa490347e3849f",
                    ("https://nlp.stanford.edu/data/glove.840B.300d.zip",),
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


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for `name`, or a clear error listing the known datasets."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown dataset {name!r}; known datasets: {known}") from None
