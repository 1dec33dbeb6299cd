"""ESIM (chapter 04): masked softmax, pooling over padding, padding-invariant logits, predict."""

import pytest
import torch

from nlpbook import batching, rnn, text
from nlpbook.models import esim


def tiny_model(packed: bool = True, seed: int = 0, exact_match: bool = False) -> esim.ESIM:
    torch.manual_seed(seed)
    config = esim.ESIMConfig(
        vocab_size=20, embedding_dim=6, hidden_size=5, packed=packed, exact_match=exact_match
    )
    return esim.ESIM(config).eval()


def test_masked_softmax_puts_zero_weight_on_pads():
    scores = torch.tensor([[1.0, 2.0, 50.0, 50.0]])  # large scores on the two pads
    mask = torch.tensor([[True, True, False, False]])
    weights = esim.masked_softmax(scores, mask)
    assert weights[0, 2:].eq(0).all()
    assert torch.allclose(weights.sum(-1), torch.ones(1))
    assert torch.allclose(weights[0, :2], torch.softmax(scores[0, :2], -1))
    # the unmasked softmax would put nearly all weight on the pads
    assert torch.softmax(scores, -1)[0, 2:].sum() > 0.99


def test_masked_softmax_along_dim1():
    scores = torch.randn(2, 3, 4)
    mask = rnn.length_mask(torch.tensor([3, 1]), 3)[:, :, None]  # (B, Ta, 1)
    weights = esim.masked_softmax(scores, mask, dim=1)
    assert weights[1, 1:].eq(0).all()
    assert torch.allclose(weights.sum(1), torch.ones(2, 4))


def test_pooling_ignores_padding():
    x = torch.tensor([[[1.0, -2.0], [3.0, -4.0], [100.0, 100.0]]])  # last step is padding
    mask = torch.tensor([[True, True, False]])
    pooled = esim.masked_mean_max(x, mask)
    assert pooled.tolist() == [[2.0, -3.0, 3.0, -2.0]]
    # the same sequence without its pad gives the same vector
    assert torch.equal(pooled, esim.masked_mean_max(x[:, :2], mask[:, :2]))


def test_pooling_max_with_negative_values_and_zero_pads():
    x = torch.tensor([[[-1.0], [0.0]]])  # a zero pad must not win the max over negatives
    assert esim.masked_mean_max(x, torch.tensor([[True, False]])).tolist() == [[-1.0, -1.0]]


def test_enhance_shape_and_parts():
    a, t = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    m = esim.enhance(a, t)
    assert m.shape == (2, 3, 16)
    assert torch.equal(m[..., 8:12], a - t) and torch.equal(m[..., 12:], a * t)


def test_packed_bilstm_output_is_zero_at_padding():
    torch.manual_seed(0)
    lstm = esim.ContextBiLSTM(3, 4)
    out = lstm(torch.randn(2, 5, 3), torch.tensor([5, 2]))
    assert out.shape == (2, 5, 8)
    assert out[1, 2:].eq(0).all()


def test_exact_bilstm_equals_nn_lstm_on_the_packed_batch():
    # esim.ContextBiLSTM does not pack; it must still give exactly what packing gives
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    lstm = esim.ContextBiLSTM(3, 4)
    reference = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    reference.load_state_dict(lstm.lstm.state_dict())
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 2, 4])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(reference(packed)[0], batch_first=True, total_length=6)
    assert torch.allclose(lstm(x, lengths), expected, atol=1e-6)


def test_packed_and_plain_context_lstms_store_the_same_weights():
    packed, plain = esim.ContextBiLSTM(3, 4), esim.ContextBiLSTM(3, 4, packed=False)
    plain.load_state_dict(packed.state_dict())  # same names and shapes: checkpoints swap
    x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 5])  # no padding: the two agree
    assert torch.allclose(packed(x, lengths), plain(x, lengths), atol=1e-6)


def test_zeroed_alignment_changes_the_logits():
    # the chapter's ablation replaces what SoftAlignment returns with a forward hook
    model = tiny_model()
    a, a_len, b, b_len, _ = batching.collate_pairs(PAIRS)

    def zero(module, inputs, outputs):
        return torch.zeros_like(outputs[0]), torch.zeros_like(outputs[1]), *outputs[2:]

    with torch.no_grad():
        full = model(a, a_len, b, b_len)
        handle = model.alignment.register_forward_hook(zero)
        ablated = model(a, a_len, b, b_len)
        handle.remove()
        assert not torch.allclose(full, ablated)
        assert torch.equal(full, model(a, a_len, b, b_len))


PAIRS = [
    ([2, 3, 4], [5, 6], 0),
    ([7, 8, 9, 10, 11, 12, 13], [14, 15, 16, 17, 18], 1),
    ([19], [2], 2),
]
# pairs that share words, for the exact-match flag
SHARING = [
    ([2, 3, 4], [3, 5], 0),
    ([7, 8, 9, 10, 11, 12, 13], [8, 15, 13, 1, 18], 1),
    ([19], [19], 2),
]


def test_exact_match_flags_words_shared_with_the_other_sentence():
    a, a_len, b, b_len, _ = batching.collate_pairs(
        [([2, 1, 5, 2], [5, 1, 9], 0), ([4], [4, 4], 1)]  # id 1 is <unk>: it matches nothing
    )
    a_match, b_match = esim.exact_match(a, rnn.length_mask(a_len, 4), b, rnn.length_mask(b_len, 3))
    assert a_match.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0]]
    assert b_match.tolist() == [[1, 0, 0], [1, 1, 0]]  # the pad (id 0) after [4, 4] is 0


def test_exact_match_flag_feeds_the_encoder():
    model = tiny_model(exact_match=True)
    assert model.encoding.bilstm.lstm.input_size == 6 + 1
    ids, lengths = torch.tensor([[2, 3]]), torch.tensor([2])
    with pytest.raises(ValueError, match="exact-match flag"):
        model.encoding(ids, lengths)
    with torch.no_grad():
        flagged = model.encoding(ids, lengths, torch.tensor([[1.0, 0.0]]))
        unflagged = model.encoding(ids, lengths, torch.zeros(1, 2))
    assert not torch.allclose(flagged, unflagged)


@pytest.mark.parametrize("exact_match", [False, True])
def test_padding_never_changes_the_logits_of_a_pair(exact_match):
    model = tiny_model(exact_match=exact_match)
    pairs = SHARING if exact_match else PAIRS
    a, a_len, b, b_len, _ = batching.collate_pairs(pairs)
    with torch.no_grad():
        batched = model(a, a_len, b, b_len)  # (3, 3), the short pairs are padded
        for i, (ids_a, ids_b, _) in enumerate(pairs):
            alone = model(
                torch.tensor([ids_a]),
                torch.tensor([len(ids_a)]),
                torch.tensor([ids_b]),
                torch.tensor([len(ids_b)]),
            )
            assert torch.allclose(batched[i], alone[0], atol=1e-6), i


@pytest.mark.parametrize("exact_match", [False, True])
def test_extra_padding_columns_do_not_change_the_logits(exact_match):
    model = tiny_model(exact_match=exact_match)
    a, a_len, b, b_len, _ = batching.collate_pairs(SHARING if exact_match else PAIRS)
    a_wide = torch.cat([a, torch.zeros(3, 4, dtype=torch.long)], 1)
    b_wide = torch.cat([b, torch.full((3, 2), 0)], 1)
    with torch.no_grad():
        assert torch.allclose(
            model(a, a_len, b, b_len), model(a_wide, a_len, b_wide, b_len), atol=1e-6
        )


def test_unpacked_model_does_read_padding():
    # the control: running the LSTM over pads (as the ported notebook did) changes the logits
    model = tiny_model(packed=False)
    a, a_len, b, b_len, _ = batching.collate_pairs(PAIRS)
    ids_a, ids_b, _ = PAIRS[0]
    with torch.no_grad():
        batched = model(a, a_len, b, b_len)[0]
        alone = model(
            torch.tensor([ids_a]), torch.tensor([3]), torch.tensor([ids_b]), torch.tensor([2])
        )
    assert not torch.allclose(batched, alone[0], atol=1e-6)


def test_attention_weights_are_distributions_over_real_tokens():
    model = tiny_model()
    a, a_len, b, b_len, _ = batching.collate_pairs(PAIRS)
    with torch.no_grad():
        logits, a_to_b, b_to_a = model(a, a_len, b, b_len, return_attention=True)
    assert logits.shape == (3, 3) and a_to_b.shape == (3, 7, 5) and b_to_a.shape == (3, 7, 5)
    assert torch.allclose(a_to_b[0, :3].sum(-1), torch.ones(3))
    assert a_to_b[0, :, 2:].eq(0).all()  # hypothesis 0 has two tokens
    assert b_to_a[0, 3:, :].eq(0).all()  # premise 0 has three tokens
    assert torch.allclose(b_to_a[0, :, :2].sum(0), torch.ones(2))


def test_forward_backward_runs_in_train_mode():
    model = tiny_model().train()
    a, a_len, b, b_len, y = batching.collate_pairs(PAIRS)
    loss = torch.nn.functional.cross_entropy(model(a, a_len, b, b_len), y)
    loss.backward()
    assert model.encoding.embedding.weight.grad is not None
    assert model.encoding.embedding.weight.grad[0].eq(0).all()  # the pad row gets no gradient


VOCAB = text.Vocab(["<pad>", "<unk>", "a", "dog", "runs", "cat", "sleeps", "."])


def test_predict_returns_label_and_probabilities():
    model = esim.ESIM(esim.ESIMConfig(vocab_size=len(VOCAB), embedding_dim=4, hidden_size=3))
    model.train()
    label, probs = esim.predict(model, VOCAB, "A dog runs.", "A cat sleeps.")
    assert label in ("entailment", "neutral", "contradiction")
    assert list(probs) == ["entailment", "neutral", "contradiction"]
    assert abs(sum(probs.values()) - 1) < 1e-6 and probs[label] == max(probs.values())
    assert model.training  # predict restores the mode it found


def test_predict_rejects_bad_input():
    model = esim.ESIM(esim.ESIMConfig(vocab_size=len(VOCAB), embedding_dim=4, hidden_size=3))
    with pytest.raises(TypeError, match="premise must be a string"):
        esim.predict(model, VOCAB, None, "a dog")
    with pytest.raises(TypeError, match="hypothesis must be a string"):
        esim.predict(model, VOCAB, "a dog", ["a", "dog"])
    with pytest.raises(ValueError, match="hypothesis is empty"):
        esim.predict(model, VOCAB, "a dog", "   ")
    longest = " ".join(["dog"] * esim.MAX_SENTENCE_TOKENS)
    assert esim.predict(model, VOCAB, longest, "a dog")[0] in esim.SNLI_LABELS
    with pytest.raises(ValueError, match="premise has 100,000 tokens; predict takes at most"):
        esim.predict(model, VOCAB, " ".join(["dog"] * 100_000), "a dog")
    with pytest.raises(text.NoKnownWords, match="no word of the premise"):
        esim.predict(model, VOCAB, "\U0001f436 \U0001f3c3", "a dog runs")
    with pytest.raises(text.NoKnownWords, match="no word of the hypothesis"):
        esim.alignment_weights(model, VOCAB, "a dog runs", "zebras graze")
    assert (
        esim.predict(model, VOCAB, "zebras graze .", "a dog")[0] in esim.SNLI_LABELS
    )  # one known token


def test_alignment_weights_shape():
    model = esim.ESIM(esim.ESIMConfig(vocab_size=len(VOCAB), embedding_dim=4, hidden_size=3))
    tokens_a, tokens_b, weights = esim.alignment_weights(model, VOCAB, "A dog runs.", "A cat")
    assert tokens_a == ["a", "dog", "runs", "."] and tokens_b == ["a", "cat"]
    assert weights.shape == (4, 2)
    assert torch.allclose(weights.sum(-1), torch.ones(4))


def test_tokenize_pairs_and_encode():
    tokens = esim.tokenize_pairs([("A dog runs.", "A cat", 0)])
    assert tokens == [(["a", "dog", "runs", "."], ["a", "cat"], 0)]
    assert esim.encode_tokens(tokens, VOCAB) == [([2, 3, 4, 7], [2, 5], 0)]


@pytest.mark.parametrize("predict", [esim.predict, esim.alignment_weights])
def test_predict_refuses_a_model_whose_output_is_not_finite(predict):
    model = esim.ESIM(esim.ESIMConfig(vocab_size=len(VOCAB), embedding_dim=4, hidden_size=3))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))  # NaN probabilities were labelled 'entailment'
    model.train()
    with pytest.raises(ValueError, match="not finite"):
        predict(model, VOCAB, "A dog runs.", "A cat sleeps.")
    assert model.training  # the mode it found is restored


# ---------------------------------------------------------------- the full profile: case and unknown rows

CASED = text.Vocab(["<pad>", "<unk>", "The", "dog", "runs", "A", "cat", "sleeps", "."])


def test_tokenize_keeps_case_when_asked():
    assert esim.tokenize("The Dog runs.") == ["the", "dog", "runs", "."]
    assert esim.tokenize("The Dog runs.", lowercase=False) == ["The", "Dog", "runs", "."]
    pairs = [("The dog runs.", "A cat", 2)]
    assert esim.tokenize_pairs(pairs, lowercase=False) == [
        (["The", "dog", "runs", "."], ["A", "cat"], 2)
    ]
    assert esim.tokenize_pairs(pairs) == [(["the", "dog", "runs", "."], ["a", "cat"], 2)]


def test_predict_tokenises_as_the_model_was_trained():
    cased = esim.ESIM(esim.ESIMConfig(len(CASED), embedding_dim=4, hidden_size=3, lowercase=False))
    tokens_a, tokens_b, weights = esim.alignment_weights(cased, CASED, "The dog runs.", "A cat")
    assert tokens_a == ["The", "dog", "runs", "."] and tokens_b == ["A", "cat"]
    assert weights.shape == (4, 2)
    lowercased = esim.ESIM(esim.ESIMConfig(len(CASED), embedding_dim=4, hidden_size=3))
    with pytest.raises(text.NoKnownWords, match="no word of the hypothesis"):  # 'a' is not in it
        esim.predict(lowercased, CASED, "The dog runs.", "A A")


def test_a_checkpoint_keeps_the_case_setting(tmp_path):
    from nlpbook import checkpoints

    model = esim.ESIM(esim.ESIMConfig(len(CASED), embedding_dim=4, hidden_size=3, lowercase=False))
    checkpoints.save_checkpoint(tmp_path / "esim.pt", model, CASED)
    reloaded, vocab, _ = checkpoints.load(tmp_path / "esim.pt", esim.ESIM)
    assert reloaded.config.lowercase is False
    assert esim.alignment_weights(reloaded, vocab, "The dog", "A cat")[0] == ["The", "dog"]


def tiny_glove():
    from nlpbook.embeddings import GloVe

    words = ["the", "The", "dog", "cat"]  # cased vectors: 'The' and 'the' differ, as in 840B
    return GloVe(words, torch.arange(12, dtype=torch.float32).reshape(4, 3).numpy() + 1)


def test_embedding_matrix_draws_unknown_words_with_the_given_spread():
    from nlpbook import embeddings

    vocab = text.Vocab(["<pad>", "<unk>", "The", "dog", "Dog", "runs", "sleeps"])
    glove = tiny_glove()
    draw = torch.randn(len(vocab), 3, generator=torch.Generator().manual_seed(0))  # what both draw
    plain, plain_coverage = embeddings.build_embedding_matrix(
        vocab, glove, torch.Generator().manual_seed(0)
    )
    assert torch.equal(plain[5], draw[5])  # unknown_std 1: the N(0, 1) draw itself
    small, coverage = embeddings.build_embedding_matrix(
        vocab, glove, torch.Generator().manual_seed(0), unknown_std=0.01, lowercase_fallback=False
    )
    assert torch.equal(small[2], torch.tensor(glove["The"]))  # the cased vector, not 'the'
    assert torch.equal(small[3], torch.tensor(glove["dog"]))
    for row in (4, 5, 6):  # 'Dog' (no fallback to 'dog'), 'runs', 'sleeps': 0.01 x the draw
        assert torch.allclose(small[row], 0.01 * draw[row])
    assert small[:2].eq(0).all()
    assert (coverage.found, plain_coverage.found) == (2, 3)  # 'Dog' finds 'dog' only by fallback
    with_fallback, _ = embeddings.build_embedding_matrix(
        vocab, glove, torch.Generator().manual_seed(0), unknown_std=0.01
    )
    assert torch.equal(with_fallback[4], torch.tensor(glove["dog"]))  # found: not scaled
    assert torch.allclose(with_fallback[5], 0.01 * draw[5])
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="unknown_std must be a finite number > 0"):
            embeddings.build_embedding_matrix(vocab, glove, unknown_std=bad)


# ---------------------------------------------------------------- one encoder call for both sentences


def _two_way(model, a, a_len, b, b_len, one_call, seed=0):
    """Logits and attention weights of a forward pass with the given call mode, from `seed`."""
    model.one_call = one_call
    torch.manual_seed(seed)  # the same dropout draws for both modes
    return model(a, a_len, b, b_len, return_attention=True)


# the premises longer, the hypotheses longer, and both the same padded length
SHAPES = {
    "premise longer": PAIRS,
    "hypothesis longer": [(b, a, y) for a, b, y in PAIRS],
    "same length": [([2, 3], [4, 5, 6], 0), ([7, 8, 9], [10], 1)],
}


@pytest.mark.parametrize("shape", SHAPES)
def test_context_bilstm_pair_equals_two_calls(shape):
    torch.manual_seed(0)
    lstm = esim.ContextBiLSTM(3, 4)
    a, a_len, b, b_len, _ = batching.collate_pairs(SHAPES[shape])
    x_a, x_b = torch.randn(*a.shape, 3), torch.randn(*b.shape, 3)
    one_a, one_b = lstm.forward_pair(x_a, a_len, x_b, b_len)
    assert one_a.shape == (*a.shape, 8) and one_b.shape == (*b.shape, 8)
    assert torch.allclose(one_a, lstm(x_a, a_len), atol=1e-6)
    assert torch.allclose(one_b, lstm(x_b, b_len), atol=1e-6)


@pytest.mark.parametrize("exact_match", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_one_call_gives_the_outputs_of_two_calls(shape, exact_match):
    model = tiny_model(exact_match=exact_match)
    assert model.one_call  # the default: both sentences in one call
    a, a_len, b, b_len, _ = batching.collate_pairs(SHAPES[shape])
    with torch.no_grad():
        one = _two_way(model, a, a_len, b, b_len, one_call=True)
        two = _two_way(model, a, a_len, b, b_len, one_call=False)
    for x, y in zip(one, two, strict=True):  # logits and both attention weights
        assert x.shape == y.shape
        assert torch.allclose(x, y, atol=1e-6), (x - y).abs().max()


@pytest.mark.parametrize("exact_match", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_one_call_gives_the_gradients_of_two_calls_with_dropout(shape, exact_match):
    # train mode with dropout: each sentence's dropout is drawn as two calls draw it
    config = esim.ESIMConfig(20, 6, 5, dropout=0.3, exact_match=exact_match)
    torch.manual_seed(1)
    model = esim.ESIM(config).train()
    a, a_len, b, b_len, y = batching.collate_pairs(SHAPES[shape])
    grads = []
    for one_call in (True, False):
        model.zero_grad()
        logits = _two_way(model, a, a_len, b, b_len, one_call, seed=7)[0]
        torch.nn.functional.cross_entropy(logits, y).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    one, two = grads
    assert one.keys() == two.keys()
    for name in one:
        assert torch.allclose(one[name], two[name], atol=1e-6), name
    assert any(g.abs().sum() > 0 for g in one.values())


def test_the_plain_lstm_always_takes_two_calls():
    # nn.LSTM reads padding: one call would change its outputs, so packed=False never stacks
    model = tiny_model(packed=False)
    a, a_len, b, b_len, _ = batching.collate_pairs(PAIRS)
    with torch.no_grad():
        one = _two_way(model, a, a_len, b, b_len, one_call=True)[0]
        two = _two_way(model, a, a_len, b, b_len, one_call=False)[0]
    assert torch.equal(one, two)


def test_one_call_runs_each_shared_lstm_once_per_step(monkeypatch):
    kernel, seen = torch.lstm, []

    def spy(*args):
        seen.append(args[0].shape[:2])  # (rows, steps) of each kernel call
        return kernel(*args)

    monkeypatch.setattr(rnn.torch, "lstm", spy)
    model = tiny_model()
    a, a_len, b, b_len, _ = batching.collate_pairs(PAIRS)
    longest = int((a_len + b_len).max())
    for one_call, calls in ((True, [(3, longest + 1)] * 2), (False, [(3, a.shape[1]), (3, b.shape[1])] * 2)):
        model.one_call = one_call
        seen.clear()
        with torch.no_grad():
            model(a, a_len, b, b_len)
        assert seen == calls  # encoder then composition: once over both rows, or once per sentence


@pytest.mark.parametrize("exact_match", [False, True])
def test_two_calls_are_the_modules_called_one_by_one(exact_match):
    # chapter 04 runs the parts by hand, sentence by sentence: forward with two calls is exactly that
    model = tiny_model(exact_match=exact_match)
    model.one_call = False
    a, a_len, b, b_len, _ = batching.collate_pairs(SHARING if exact_match else PAIRS)
    a_mask, b_mask = rnn.length_mask(a_len, a.shape[1]), rnn.length_mask(b_len, b.shape[1])
    a_match, b_match = esim.exact_match(a, a_mask, b, b_mask) if exact_match else (None, None)
    with torch.no_grad():
        a_bar, b_bar = model.encoding(a, a_len, a_match), model.encoding(b, b_len, b_match)
        a_tilde, b_tilde, _, _ = model.alignment(a_bar, a_mask, b_bar, b_mask)
        v_a = model.composition(esim.enhance(a_bar, a_tilde), a_len)
        v_b = model.composition(esim.enhance(b_bar, b_tilde), b_len)
        v = torch.cat([esim.masked_mean_max(v_a, a_mask), esim.masked_mean_max(v_b, b_mask)], -1)
        assert torch.equal(model(a, a_len, b, b_len), model.classifier(v))


def test_one_call_runs_on_the_meta_device_with_lengths_on_the_cpu():
    # no tensor of the pair layout may be made on the CPU beside the model's device
    model = tiny_model(exact_match=True).to("meta")
    assert model.one_call
    a, a_len, b, b_len, _ = batching.collate_pairs(SHARING)
    logits, a_to_b, b_to_a = model(a.to("meta"), a_len, b.to("meta"), b_len, return_attention=True)
    assert logits.device.type == "meta" and logits.shape == (3, 3)
    assert a_to_b.shape == b_to_a.shape == (3, a.shape[1], b.shape[1])
