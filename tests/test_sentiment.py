import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlpbook import batching, checkpoints, text, tokenizers, train, utils
from nlpbook.models import sentiment


def tiny_vocab() -> text.Vocab:
    return text.Vocab.build([["good", "bad", "film", "great", "awful", "the", "."]])


def config(vocab_size: int, embedding_dim: int, hidden_size: int, **kw) -> sentiment.BiLSTMSentimentConfig:
    return sentiment.BiLSTMSentimentConfig(vocab_size, embedding_dim, hidden_size, **kw)


def tiny_model(vocab_size: int = 9, seed: int = 0) -> sentiment.BiLSTMSentiment:
    torch.manual_seed(seed)
    return sentiment.BiLSTMSentiment(config(vocab_size, embedding_dim=6, hidden_size=5)).eval()


def test_full_profile_parameter_count_matches_the_original():
    model = sentiment.BiLSTMSentiment(config(25_002, 100, 256, num_layers=2, dropout=0.5))
    assert utils.count_parameters(model) == 4_810_857


def test_architecture_as_in_the_original():
    model = sentiment.BiLSTMSentiment(config(30, 8, 7, pad_index=0))
    assert model.config == sentiment.BiLSTMSentimentConfig(30, 8, 7)  # the defaults: 2 layers, 0.5
    assert model.embedding.padding_idx == 0
    assert model.rnn.bidirectional and model.rnn.num_layers == 2 and model.rnn.dropout == 0.5
    assert model.fc.in_features == 14 and model.fc.out_features == 1
    ids, lengths = batching.pad_batch([[2, 3, 4], [5, 6]])
    assert model.eval()(ids, lengths).shape == (2,)


def test_padding_does_not_change_the_output():
    model = tiny_model()
    alone = model(torch.tensor([[2, 3, 4]]), torch.tensor([3]))
    ids, lengths = batching.pad_batch([[2, 3, 4], [5, 6, 7, 8, 2, 3, 4]])
    batched = model(ids, lengths)
    # extra padding columns beyond the longest review do not matter either
    wider = model(torch.cat([ids, torch.zeros(2, 5, dtype=torch.long)], dim=1), lengths)
    assert torch.allclose(alone, batched[:1], atol=1e-6)
    assert torch.allclose(batched, wider, atol=1e-6)


def test_lengths_on_gpu_style_tensor_are_moved_to_cpu():
    # The model calls lengths.cpu(); an int32 or already-CPU tensor must work as well.
    model = tiny_model()
    ids, lengths = batching.pad_batch([[2, 3], [4]])
    assert torch.allclose(model(ids, lengths), model(ids, lengths.int()))


def test_encode_review_keeps_last_or_first_tokens():
    vocab = tiny_vocab()
    tokens = ["the", "film", "good", "zzz"]
    assert sentiment.encode_review(tokens, vocab, 2) == [vocab["good"], vocab.unk_index]
    assert sentiment.encode_review(tokens, vocab, 2, keep="first") == [vocab["the"], vocab["film"]]
    assert len(sentiment.encode_review(tokens, vocab)) == 4
    with pytest.raises(ValueError, match="keep"):
        sentiment.encode_review(tokens, vocab, 2, keep="middle")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_encode_review_refuses_a_max_tokens_that_slicing_would_misread(bad):
    # 0 used to mean "no limit" and -1 "drop the first token"
    with pytest.raises(ValueError, match="the limit must be None"):
        sentiment.encode_review(["the", "film"], tiny_vocab(), bad)


def test_clean_review_drops_line_breaks_and_extra_spaces():
    assert sentiment.clean_review("Great.<br /><br />Awful  film\n") == "Great. Awful film"
    assert sentiment.clean_review("Great.<br /><br />Awful<br/>!").split() == [
        "Great.",
        "Awful",
        "!",
    ]


def test_predict_sentiment_returns_a_probability_and_clear_errors():
    vocab = tiny_vocab()
    model = tiny_model(len(vocab))
    p = sentiment.predict_sentiment(model, vocab, "the film good", tokenizers.basic_tokenize)
    assert isinstance(p, float) and 0.0 < p < 1.0
    model.train()
    again = sentiment.predict_sentiment(model, vocab, "the film good", tokenizers.basic_tokenize)
    assert again == pytest.approx(p) and model.training  # eval for predicting, mode restored
    with pytest.raises(TypeError, match="string"):
        sentiment.predict_sentiment(model, vocab, None, tokenizers.basic_tokenize)
    with pytest.raises(TypeError, match="string"):
        sentiment.predict_sentiment(model, vocab, ["good"], tokenizers.basic_tokenize)
    with pytest.raises(ValueError, match="empty"):
        sentiment.predict_sentiment(model, vocab, "   ", tokenizers.basic_tokenize)
    with pytest.raises(ValueError, match="empty"):
        sentiment.predict_sentiment(model, vocab, "<br />", tokenizers.basic_tokenize)
    with pytest.raises(text.NoKnownWords, match="no word of the review"):
        sentiment.predict_sentiment(model, vocab, "zzz qqq", tokenizers.basic_tokenize)
    with pytest.raises(text.NoKnownWords):  # the known word is cut off by max_tokens
        sentiment.predict_sentiment(model, vocab, "good zzz qqq", tokenizers.basic_tokenize, max_tokens=2)
    kept = sentiment.predict_sentiment(model, vocab, "good zzz qqq", tokenizers.basic_tokenize, max_tokens=3)
    assert 0.0 < kept < 1.0


def test_a_few_steps_learn_a_toy_task():
    vocab = tiny_vocab()
    good, bad = vocab["good"], vocab["bad"]
    data = [([vocab["the"], good, vocab["film"]], 1), ([bad, vocab["film"]], 0)] * 8
    loader = torch.utils.data.DataLoader(data, batch_size=8, collate_fn=batching.collate_batch)
    torch.manual_seed(0)
    model = sentiment.BiLSTMSentiment(config(len(vocab), 6, 5, dropout=0.0))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    history = train.fit(
        model,
        loader,
        loader,
        torch.nn.BCEWithLogitsLoss(),
        optimizer,
        8,
        progress=False,
        verbose=False,
    )
    assert history[-1]["val_acc"] == 1.0 and history[-1]["val_loss"] < history[0]["val_loss"]


def test_checkpoint_round_trip(tmp_path):
    vocab = tiny_vocab()
    model = tiny_model(len(vocab))
    extra = {"tokenizer": "basic", "max_tokens": 4}
    path = checkpoints.save_checkpoint(tmp_path / "s.pt", model, vocab, extra)
    loaded, loaded_vocab, loaded_extra = checkpoints.load(path, sentiment.BiLSTMSentiment)
    assert loaded_vocab == vocab and loaded_extra == extra and loaded.config == model.config
    assert not loaded.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name])
    args = (vocab, "good film", tokenizers.basic_tokenize)
    assert sentiment.predict_sentiment(loaded, *args) == sentiment.predict_sentiment(model, *args)
    torch.load(path, weights_only=True)  # no pickled code in the checkpoint


def test_checkpoint_errors(tmp_path):
    vocab = tiny_vocab()
    with pytest.raises(ValueError, match="rows"):
        checkpoints.save_checkpoint(tmp_path / "x.pt", tiny_model(len(vocab) + 1), vocab)
    with pytest.raises(ValueError, match="does not fit BiLSTMSentimentConfig"):
        checkpoints.build(sentiment.BiLSTMSentiment, {"vocab_size": 3})
    # a checkpoint whose config says a different hidden size than its weights
    model = tiny_model(len(vocab))
    model.config = config(len(vocab), embedding_dim=6, hidden_size=4)
    path = checkpoints.save_checkpoint(tmp_path / "bad.pt", model, vocab)
    with pytest.raises(ValueError, match="does not match"):
        checkpoints.load(path, sentiment.BiLSTMSentiment)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.integers(2, 8), min_size=1, max_size=9), min_size=1, max_size=6),
    st.integers(0, 2),
)
def test_collate_pack_unpack_returns_the_embedded_input(sequences, extra):
    # The chapter's path: collate (pad) -> embed -> pack (unsorted, CPU lengths) -> unpack.
    ids, lengths = batching.pad_batch(sequences)
    ids = torch.cat([ids, torch.zeros(len(sequences), extra, dtype=torch.long)], dim=1)
    embedding = torch.nn.Embedding(9, 3, padding_idx=0)
    embedded = embedding(ids).detach()  # (B, T, 3)
    packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
    assert packed.data.shape[0] == sum(len(s) for s in sequences)  # no padding packed
    unpacked, out_lengths = pad_packed_sequence(packed, batch_first=True)
    assert out_lengths.tolist() == [len(s) for s in sequences]
    assert torch.equal(unpacked, embedded[:, : int(lengths.max())])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=5))
def test_model_output_ignores_padding(lengths):
    model = tiny_model()
    gen = torch.Generator().manual_seed(sum(lengths))
    sequences = [torch.randint(2, 9, (n,), generator=gen).tolist() for n in lengths]
    ids, lens = batching.pad_batch(sequences)
    batched = model(ids, lens)
    one_by_one = torch.cat([model(torch.tensor([s]), torch.tensor([len(s)])) for s in sequences])
    assert torch.allclose(batched, one_by_one, atol=1e-5)


def test_predict_sentiment_refuses_a_model_whose_output_is_not_finite():
    vocab = tiny_vocab()
    model = tiny_model(len(vocab))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    with pytest.raises(ValueError, match="not finite"):
        sentiment.predict_sentiment(model, vocab, "the film good", tokenizers.basic_tokenize)
