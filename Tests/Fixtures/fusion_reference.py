#!/usr/bin/env python3
"""PyTorch reference of kelm-dist's fusion model (DESIGN §2, §3) and checker of §9 batch dumps.

Like llm.c's test against PyTorch: the Swift model (Sources/KELMModel) must compute the same
losses and gradients as this file, which is written directly from the equations of DESIGN.

    python3 Tests/Fixtures/fusion_reference.py make-fixture [OUT.h5]
        Builds a tiny random fusion model and one batch and writes a debug batch dump (DESIGN §9)
        with the reference losses and gradients; default OUT:
        Tests/KELMModelTests/Fixtures/fusion_tiny.h5. Then reloads it, replays it and prints
        the gradient magnitudes per parameter group.

    python3 Tests/Fixtures/fusion_reference.py replay DUMP.h5 [--rtol R] [--atol A]
            [--noise-factor F] [--loss-rtol L] [--ignore REGEX] [--all]
        Checks that a §9 dump (e.g. from `kelm-dist debug dump-batch`) is complete and
        consistent, rebuilds the model from /params and the config, recomputes the losses and
        every gradient in float64 (the reference) and float32 (the rounding-noise estimate),
        prints a per-tensor report sorted by how close each tensor is to its tolerance, and
        exits 1 if the dump is incomplete or any tensor or loss is out of tolerance.

Tolerance of a gradient tensor t (see --help and Tests/Fixtures/README.md):

    max|g_dump − g_ref64| ≤ rtol · max|g_ref64,t| + atol · G + noise_factor · max|g_ref32 − g_ref64|

G = the largest |gradient| entry of the whole model (so tensors whose gradient is analytically
zero, such as attention key biases, are judged against the model's gradient scale); the last
term widens the bound where this very batch is ill-conditioned in float32 (PyTorch's own
float32 run shows how much rounding the batch produces). Defaults rtol 1e-4, atol 1e-6,
noise_factor 10.

Model semantics implemented here (each line is a DESIGN §2/§3 equation; the Swift code in
Sources/KELMModel does the same):
  LM: Hugging Face BERT, post-LN, erf GELU, LN eps `layer_norm_eps` (1e-12), token types 0,
      additive key-padding mask, [PAD] row of the word embeddings gets no input-side gradient.
  Layers 0..L−K−1 text only; layer L−K+j (j < K): h ← BertLayer(h); x ← GNNLayer_j(x); MInt.
  x⁰ = GELU(W_in M[entity] + b_in), 0 on interaction nodes; u = node_type[type];
  e = W_e2 ReLU(LN(W_e1 [onehot(rel) ‖ onehot(type s) ‖ onehot(type t)] + b_e1)) + b_e2;
  GNN: z = [x; u]; q_t = W_q z_t + b_q; k_st = W_k [z_s; e_st] + b_k; m_st = W_m [z_s; e_st] + b_m;
       α = softmax over the incoming edges of t of q_t·k_st/√(d_g/H_g) per head;
       x_t ← GELU(W_o2 ReLU(LN(W_o1 Σ α m + b_o1)) + b_o2)     (no residual; LN eps 1e-5)
  MInt: a = [h_[CLS]; x_interaction]; a ← LN(a + W_m2 GELU(W_m1 a + b_m1) + b_m2) (eps 1e-5)
  n = GELU(V_h x⁰ + b_h0 + V_x x^K + b_hK); n̂ = LN(n) (eps 1e-5);
  s(h,r,t) = Σ (n̂_h/√d_g) ⊙ w_r ⊙ n̂_t;
  LP = Σ_pos { ½[−log σ(s⁺) − Σ_k p_k log σ(−s⁻_k)] + 0.01 ‖w_r‖²/d_g } / lp_count,
       p = softmax of the 64 negative scores (32 head replacements, then 32 tail), detached;
  MLM = Σ CE at labelled positions / mlm_count;  total = mlm_weight · MLM + lp_weight · LP.

Deterministic (fixed seeds, CPU, one thread): rerunning make-fixture with the same library
versions gives the same file.
"""

import argparse
import collections
import json
import math
import os
import platform
import re
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_FIXTURE = os.path.join(REPO, "Tests", "KELMModelTests", "Fixtures", "fusion_tiny.h5")
SCRIPT_NAME = "Tests/Fixtures/fusion_reference.py"

NEGATIVES_PER_SIDE = 32               # DESIGN §3: 32 replacement heads, then 32 replacement tails
GNN_LN_EPS = 1e-5                     # DESIGN §2: LayerNorm eps in the GNN, MInt and linkpred.norm
RELATION_L2 = 0.01                    # DESIGN §3: 0.01 Σ_pos ‖w_r‖² / (P · d_g)
LIBVER = ("v108", "v108")             # HDF5 1.8 file format, like the other fixtures

# Root attributes, datasets and their ranks (DESIGN §9).
ROOT_ATTRS = ["format", "format_version", "B", "T", "config", "loss", "mlm_loss", "lp_loss",
              "mlm_count", "lp_count"]
INT_DATASETS = collections.OrderedDict([
    ("tokens/input_ids", 2), ("tokens/attention_mask", 2), ("tokens/mlm_labels", 2),
    ("tokens/mention_mask", 2), ("graph/node_ptr", 1), ("graph/node_entity", 1),
    ("graph/node_type", 1), ("graph/node_source_entity", 1), ("graph/edge_index", 2), ("graph/edge_type", 1),
    ("linkpred/pos", 2), ("linkpred/neg_head", 2), ("linkpred/neg_tail", 2),
])
# format_version 2 added /graph/node_source_entity (source nodes, x⁰ = 0); a version-1 dump lacks it
FORMAT_VERSION = 2
OPTIONAL_BEFORE_V2 = {"graph/node_source_entity"}

# Parameter groups of DESIGN §5 (for reports).
GROUPS = ["lm.embeddings", "lm.attention", "lm.ffn", "gnn", "mint", "heads"]


def param_group(name):
    if name.startswith("lm.embeddings."):
        return "lm.embeddings"
    if name.startswith("lm.encoder.layer."):
        return "lm.attention" if ".attention." in name else "lm.ffn"
    if name.startswith("gnn."):
        return "gnn"
    if name.startswith("mint."):
        return "mint"
    if name.startswith("mlm.") or name.startswith("linkpred."):
        return "heads"
    return "?"


def h5_path(name):
    return name.replace(".", "/")


# ---------------------------------------------------------------------------------------------
# Architecture and parameter table
# ---------------------------------------------------------------------------------------------

class Arch:
    """The sizes the model needs. Built from the config's `model`/`train` sections, checked
    against (and where the config is silent, completed from) the parameter shapes."""

    FIELDS = ["vocab_size", "hidden_size", "num_layers", "num_heads", "ffn_size", "max_positions",
              "type_vocab_size", "pad_token_id", "layer_norm_eps", "fusion_layers", "gnn_hidden",
              "gnn_heads", "mint_hidden", "num_relations", "mlm_weight", "lp_weight"]

    def __init__(self, **kw):
        for k in self.FIELDS:
            setattr(self, k, kw[k])

    def as_dict(self):
        return {k: getattr(self, k) for k in self.FIELDS}

    @property
    def edge_relations(self):          # 2R + 3
        return 2 * self.num_relations + 3

    @property
    def first_fusion_layer(self):      # L − K
        return self.num_layers - self.fusion_layers


def expected_param_shapes(a):
    """name -> PyTorch shape, in the Swift parameter-table order (DESIGN §2 "Parameter names")."""
    d, g, V = a.hidden_size, a.gnn_hidden, a.vocab_size
    s = collections.OrderedDict()
    s["lm.embeddings.word_embeddings.weight"] = (V, d)
    s["lm.embeddings.position_embeddings.weight"] = (a.max_positions, d)
    s["lm.embeddings.token_type_embeddings.weight"] = (a.type_vocab_size, d)
    s["lm.embeddings.LayerNorm.weight"] = (d,)
    s["lm.embeddings.LayerNorm.bias"] = (d,)
    for i in range(a.num_layers):
        p = f"lm.encoder.layer.{i}."
        for m in ("query", "key", "value"):
            s[p + f"attention.self.{m}.weight"] = (d, d)
        for m in ("query", "key", "value"):
            s[p + f"attention.self.{m}.bias"] = (d,)
        s[p + "attention.output.dense.weight"] = (d, d)
        s[p + "attention.output.dense.bias"] = (d,)
        s[p + "attention.output.LayerNorm.weight"] = (d,)
        s[p + "attention.output.LayerNorm.bias"] = (d,)
        s[p + "intermediate.dense.weight"] = (a.ffn_size, d)
        s[p + "intermediate.dense.bias"] = (a.ffn_size,)
        s[p + "output.dense.weight"] = (d, a.ffn_size)
        s[p + "output.dense.bias"] = (d,)
        s[p + "output.LayerNorm.weight"] = (d,)
        s[p + "output.LayerNorm.bias"] = (d,)
    s["mlm.transform.dense.weight"] = (d, d)
    s["mlm.transform.dense.bias"] = (d,)
    s["mlm.transform.LayerNorm.weight"] = (d,)
    s["mlm.transform.LayerNorm.bias"] = (d,)
    s["mlm.bias"] = (V,)
    s["gnn.node_in.weight"] = (g, d)
    s["gnn.node_in.bias"] = (g,)
    s["gnn.node_type.weight"] = (3, g)
    s["gnn.edge_encoder.0.weight"] = (g, a.edge_relations + 6)
    s["gnn.edge_encoder.0.bias"] = (g,)
    s["gnn.edge_encoder.1.weight"] = (g,)
    s["gnn.edge_encoder.1.bias"] = (g,)
    s["gnn.edge_encoder.2.weight"] = (g, g)
    s["gnn.edge_encoder.2.bias"] = (g,)
    for l in range(a.fusion_layers):
        p = f"gnn.layers.{l}."
        s[p + "query.weight"] = (g, 2 * g)
        s[p + "key.weight"] = (g, 3 * g)
        s[p + "message.weight"] = (g, 3 * g)
        s[p + "query.bias"] = (g,)
        s[p + "key.bias"] = (g,)
        s[p + "message.bias"] = (g,)
        s[p + "out.0.weight"] = (g, g)
        s[p + "out.0.bias"] = (g,)
        s[p + "out.1.weight"] = (g,)
        s[p + "out.1.bias"] = (g,)
        s[p + "out.2.weight"] = (g, g)
        s[p + "out.2.bias"] = (g,)
    s["gnn.final.h0.weight"] = (g, g)
    s["gnn.final.h0.bias"] = (g,)
    s["gnn.final.hK.weight"] = (g, g)
    s["gnn.final.hK.bias"] = (g,)
    w = d + g
    s["mint.0.weight"] = (a.mint_hidden, w)
    s["mint.0.bias"] = (a.mint_hidden,)
    s["mint.2.weight"] = (w, a.mint_hidden)
    s["mint.2.bias"] = (w,)
    s["mint.norm.weight"] = (w,)
    s["mint.norm.bias"] = (w,)
    s["linkpred.norm.weight"] = (g,)
    s["linkpred.norm.bias"] = (g,)
    s["linkpred.relation.weight"] = (a.num_relations, g)
    return s


def arch_from_config(config, shapes, problems):
    """Arch from the config JSON (`model`, `train` sections) and the /params shapes.

    Sizes that the shapes determine are taken from the shapes; a config value that disagrees
    is reported. num_heads, gnn_heads, pad_token_id, layer_norm_eps come from the config only.
    """
    model = config.get("model", config) if isinstance(config, dict) else {}
    train = config.get("train", {}) if isinstance(config, dict) else {}
    if not isinstance(model, dict):
        model = {}
    if not isinstance(train, dict):
        train = {}

    def shape(name, dim):
        s = shapes.get(name)
        return None if s is None or len(s) <= dim else int(s[dim])

    layers = set()
    gnn_layers = set()
    for n in shapes:
        m = re.match(r"lm\.encoder\.layer\.(\d+)\.", n)
        if m:
            layers.add(int(m.group(1)))
        m = re.match(r"gnn\.layers\.(\d+)\.", n)
        if m:
            gnn_layers.add(int(m.group(1)))

    from_shapes = {
        "vocab_size": shape("lm.embeddings.word_embeddings.weight", 0),
        "hidden_size": shape("lm.embeddings.word_embeddings.weight", 1),
        "num_layers": (max(layers) + 1) if layers else None,
        "ffn_size": shape("lm.encoder.layer.0.intermediate.dense.weight", 0),
        "max_positions": shape("lm.embeddings.position_embeddings.weight", 0),
        "type_vocab_size": shape("lm.embeddings.token_type_embeddings.weight", 0),
        "fusion_layers": (max(gnn_layers) + 1) if gnn_layers else None,
        "gnn_hidden": shape("gnn.node_in.weight", 0),
        "mint_hidden": shape("mint.0.weight", 0),
        "num_relations": shape("linkpred.relation.weight", 0),
    }
    defaults = {"type_vocab_size": 2, "pad_token_id": 0, "layer_norm_eps": 1e-12, "max_positions": 512,
                "fusion_layers": 3, "gnn_hidden": 128, "gnn_heads": 4}
    values = {}
    for k in ["vocab_size", "hidden_size", "num_layers", "num_heads", "ffn_size", "max_positions",
              "type_vocab_size", "pad_token_id", "layer_norm_eps", "fusion_layers", "gnn_hidden",
              "gnn_heads", "mint_hidden", "num_relations"]:
        cfg = model.get(k)
        shp = from_shapes.get(k)
        if k == "mint_hidden" and cfg is None and model.get("hidden_size") is not None:
            cfg = model.get("hidden_size")           # null means d (DESIGN §10)
        if shp is not None:
            if cfg is not None and cfg != shp and k != "num_relations":
                problems.append(f"config model.{k} = {cfg} but the parameters say {shp}; using {shp}")
            values[k] = shp
        elif cfg is not None:
            values[k] = cfg
        elif k in defaults:
            values[k] = defaults[k]
            if k not in ("max_positions", "type_vocab_size"):
                problems.append(f"config has no model.{k}; assuming the default {defaults[k]}")
        else:
            values[k] = None
            problems.append(f"cannot determine model.{k} (absent from the config and the parameters)")
    values["mlm_weight"] = float(train.get("mlm_weight", 1.0))
    values["lp_weight"] = float(train.get("lp_weight", 1.0))
    if "mlm_weight" not in train or "lp_weight" not in train:
        problems.append("config has no train.mlm_weight / train.lp_weight; using 1 for what is absent")
    return Arch(**values)


# ---------------------------------------------------------------------------------------------
# The model, written from the equations (functional: a dict of parameter tensors)
# ---------------------------------------------------------------------------------------------

def gelu(x):
    return F.gelu(x)  # erf form (approximate='none')


def lin(x, p, name):
    return F.linear(x, p[name + ".weight"], p[name + ".bias"])


def ln(x, p, name, eps):
    return F.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"], eps)


def bert_embeddings(p, a, ids):
    """LN(E_word[ids] + E_pos[t] + E_type[0]); [PAD] row gets no gradient from here (padding_idx)."""
    B, T = ids.shape
    word = F.embedding(ids, p["lm.embeddings.word_embeddings.weight"], padding_idx=a.pad_token_id)
    pos = p["lm.embeddings.position_embeddings.weight"][:T][None, :, :]
    typ = p["lm.embeddings.token_type_embeddings.weight"][0][None, None, :]
    return ln(word + pos + typ, p, "lm.embeddings.LayerNorm", a.layer_norm_eps)


def bert_layer(p, a, i, h, key_mask):
    """Hugging Face BertLayer, post-LN, eval mode. h [B,T,d]; key_mask [B,T] bool (True = real)."""
    B, T, d = h.shape
    H = a.num_heads
    dh = d // H
    pre = f"lm.encoder.layer.{i}."

    def heads(x):
        return x.view(B, T, H, dh).transpose(1, 2)       # [B,H,T,dh]

    q = heads(lin(h, p, pre + "attention.self.query"))
    k = heads(lin(h, p, pre + "attention.self.key"))
    v = heads(lin(h, p, pre + "attention.self.value"))
    scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
    # additive key-padding mask, as Hugging Face (finfo.min: a padded key gets weight exactly 0)
    scores = scores + (~key_mask)[:, None, None, :].to(h.dtype) * torch.finfo(h.dtype).min
    probs = torch.softmax(scores, dim=-1)
    ctx = (probs @ v).transpose(1, 2).reshape(B, T, d)
    h1 = ln(lin(ctx, p, pre + "attention.output.dense") + h, p, pre + "attention.output.LayerNorm",
            a.layer_norm_eps)
    inter = gelu(lin(h1, p, pre + "intermediate.dense"))
    return ln(lin(inter, p, pre + "output.dense") + h1, p, pre + "output.LayerNorm", a.layer_norm_eps)


def node_input(p, a, memory, node_entity):
    """x⁰ = GELU(W_in M[entity] + b_in), 0 for interaction nodes (entity −1); M gets no gradient."""
    ent = node_entity.clamp(min=0)
    rows = memory[ent]
    x0 = gelu(lin(rows, p, "gnn.node_in"))
    return x0 * (node_entity >= 0).to(x0.dtype)[:, None]


def edge_features(p, a, node_type, src, tgt, rel):
    """e_st = W_e2 ReLU(LN(W_e1 [onehot(rel) ‖ onehot(type s) ‖ onehot(type t)] + b_e1)) + b_e2."""
    dtype = p["gnn.edge_encoder.0.weight"].dtype
    onehot = torch.cat([F.one_hot(rel, a.edge_relations), F.one_hot(node_type[src], 3),
                        F.one_hot(node_type[tgt], 3)], dim=1).to(dtype)
    hidden = torch.relu(ln(lin(onehot, p, "gnn.edge_encoder.0"), p, "gnn.edge_encoder.1", GNN_LN_EPS))
    return lin(hidden, p, "gnn.edge_encoder.2")


def scatter_softmax(scores, index, num_segments):
    """softmax of scores [E, H] over the entries that share index[e] (per column)."""
    E, H = scores.shape
    idx = index[:, None].expand(E, H)
    mx = torch.full((num_segments, H), -math.inf, dtype=scores.dtype)
    mx = mx.scatter_reduce(0, idx, scores.detach(), reduce="amax", include_self=True)
    ex = torch.exp(scores - mx[index])
    den = torch.zeros((num_segments, H), dtype=scores.dtype).index_add(0, index, ex)
    return ex / den[index]


def gnn_layer(p, a, l, x, u, e, src, tgt):
    """One GNN layer (DESIGN §2): attention over each node's incoming edges, then the output MLP."""
    N, g = x.shape
    Hg = a.gnn_heads
    dh = g // Hg
    pre = f"gnn.layers.{l}."
    z = torch.cat([x, u], dim=1)                              # [N, 2g]
    q = lin(z, p, pre + "query")                              # [N, g]
    zs_e = torch.cat([z[src], e], dim=1)                      # [E, 3g]
    k = lin(zs_e, p, pre + "key")
    m = lin(zs_e, p, pre + "message")
    E = src.shape[0]
    gamma = (q[tgt].view(E, Hg, dh) * k.view(E, Hg, dh)).sum(-1) / math.sqrt(dh)   # [E, Hg]
    alpha = scatter_softmax(gamma, tgt, N)
    agg = torch.zeros((N, Hg, dh), dtype=x.dtype).index_add(0, tgt, alpha[:, :, None] * m.view(E, Hg, dh))
    agg = agg.reshape(N, g)
    hidden = torch.relu(ln(lin(agg, p, pre + "out.0"), p, pre + "out.1", GNN_LN_EPS))
    return gelu(lin(hidden, p, pre + "out.2"))


def mint(p, a, h, x, interaction):
    """a = [h_[CLS]; x_interaction]; a ← LN(a + W_m2 GELU(W_m1 a + b_m1) + b_m2); split back."""
    d = h.shape[2]
    inp = torch.cat([h[:, 0, :], x[interaction]], dim=1)
    out = ln(inp + lin(gelu(lin(inp, p, "mint.0")), p, "mint.2"), p, "mint.norm", GNN_LN_EPS)
    h = torch.cat([out[:, None, :d], h[:, 1:, :]], dim=1)
    x = x.index_put((interaction,), out[:, d:])
    return h, x


def forward(p, a, batch, memory, counts):
    """Losses of one batch. p: name -> tensor (one dtype); batch: name -> LongTensor;
    counts: (mlm_count, lp_count) the normalisers (global counts, DESIGN §3)."""
    ids = batch["tokens/input_ids"]
    key_mask = batch["tokens/attention_mask"] != 0
    labels = batch["tokens/mlm_labels"]
    node_ptr = batch["graph/node_ptr"]
    node_entity = batch["graph/node_entity"]
    node_type = batch["graph/node_type"]
    src, tgt = batch["graph/edge_index"][0], batch["graph/edge_index"][1]
    rel = batch["graph/edge_type"]
    pos = batch["linkpred/pos"]
    neg_head, neg_tail = batch["linkpred/neg_head"], batch["linkpred/neg_tail"]
    B = ids.shape[0]
    g = a.gnn_hidden
    mlm_count, lp_count = counts

    # LM1: embeddings + text-only layers
    h = bert_embeddings(p, a, ids)
    for i in range(a.first_fusion_layer):
        h = bert_layer(p, a, i, h, key_mask)

    # graph inputs
    x0 = node_input(p, a, memory, node_entity)
    u = p["gnn.node_type.weight"][node_type]
    e = edge_features(p, a, node_type, src, tgt, rel)
    interaction = node_ptr[:B]

    # fusion layers: h ← BertLayer(h); x ← GNNLayer(x); MInt
    x = x0
    for j in range(a.fusion_layers):
        h = bert_layer(p, a, a.first_fusion_layer + j, h, key_mask)
        x = gnn_layer(p, a, j, x, u, e, src, tgt)
        h, x = mint(p, a, h, x, interaction)

    # MLM head at labelled positions (decoder tied to the word embeddings)
    flat_labels = labels.reshape(-1)
    sel = flat_labels != -100
    hs = h.reshape(-1, h.shape[-1])[sel]
    t = ln(gelu(lin(hs, p, "mlm.transform.dense")), p, "mlm.transform.LayerNorm", a.layer_norm_eps)
    logits = t @ p["lm.embeddings.word_embeddings.weight"].t() + p["mlm.bias"]
    mlm_sum = F.cross_entropy(logits, flat_labels[sel], reduction="sum")
    mlm_loss = mlm_sum / mlm_count if mlm_count > 0 else mlm_sum * 0

    # final node states and link prediction (DistMult on LN(n), self-adversarial negatives)
    n = gelu(lin(x0, p, "gnn.final.h0") + lin(x, p, "gnn.final.hK"))
    nh = ln(n, p, "linkpred.norm", GNN_LN_EPS) / math.sqrt(g)   # n̂/√d_g on the head side
    nt = ln(n, p, "linkpred.norm", GNN_LN_EPS)
    w = p["linkpred.relation.weight"]
    hd, r, tl = pos[:, 0], pos[:, 1], pos[:, 2]
    wr = w[r]                                                   # [P, g]
    s_pos = (nh[hd] * wr * nt[tl]).sum(-1)                      # [P]
    s_neg_head = (nh[neg_head] * wr[:, None, :] * nt[tl][:, None, :]).sum(-1)   # [P, 32]
    s_neg_tail = (nh[hd][:, None, :] * wr[:, None, :] * nt[neg_tail]).sum(-1)   # [P, 32]
    s_neg = torch.cat([s_neg_head, s_neg_tail], dim=1)         # [P, 64]
    adv = torch.softmax(s_neg.detach(), dim=1)                  # p, held constant
    per_pos = 0.5 * (-F.logsigmoid(s_pos) - (adv * F.logsigmoid(-s_neg)).sum(1)) \
        + RELATION_L2 * (wr * wr).sum(1) / g
    lp_sum = per_pos.sum()
    lp_loss = lp_sum / lp_count if lp_count > 0 else lp_sum * 0

    total = a.mlm_weight * mlm_loss + a.lp_weight * lp_loss
    return dict(loss=total, mlm_loss=mlm_loss, lp_loss=lp_loss, mlm_sum=mlm_sum, lp_sum=lp_sum,
                logits=logits, h=h, x=x, n=n, s_pos=s_pos, s_neg=s_neg)


def run(params_np, arch, batch_np, memory_np, counts, dtype):
    """Forward + backward in `dtype`. Returns (losses as float, gradients as float64 numpy, outputs)."""
    p = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params_np.items()}
    batch = {k: torch.tensor(np.asarray(v), dtype=torch.long) for k, v in batch_np.items()}
    memory = torch.tensor(memory_np, dtype=dtype)
    out = forward(p, arch, batch, memory, counts)
    out["loss"].backward()
    grads = {}
    for k, t in p.items():
        grads[k] = (t.grad.detach().double().numpy() if t.grad is not None
                    else np.zeros(t.shape, dtype=np.float64))
    losses = {k: float(out[k].item()) for k in ("loss", "mlm_loss", "lp_loss", "mlm_sum", "lp_sum")}
    return losses, grads, out


# ---------------------------------------------------------------------------------------------
# Independent checks of the reference itself (make-fixture only)
# ---------------------------------------------------------------------------------------------

def check_lm_against_transformers(params_np, arch, ids, mask, labels):
    """Our functional BERT (all L layers, text only) + MLM head against transformers'
    BertForMaskedLM with the same weights, float64. Returns the max differences."""
    import transformers
    cfg = transformers.BertConfig(
        vocab_size=arch.vocab_size, hidden_size=arch.hidden_size, num_hidden_layers=arch.num_layers,
        num_attention_heads=arch.num_heads, intermediate_size=arch.ffn_size,
        max_position_embeddings=arch.max_positions, type_vocab_size=arch.type_vocab_size,
        pad_token_id=arch.pad_token_id, layer_norm_eps=arch.layer_norm_eps, hidden_act="gelu",
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    cfg._attn_implementation = "eager"
    hf = transformers.BertForMaskedLM(cfg).double().eval()
    state = {}
    for n, v in params_np.items():
        if n.startswith("lm."):
            state["bert." + n[3:]] = torch.tensor(v, dtype=torch.float64)
        elif n.startswith("mlm.transform."):
            state["cls.predictions.transform." + n[len("mlm.transform."):]] = torch.tensor(v, dtype=torch.float64)
        elif n == "mlm.bias":
            state["cls.predictions.bias"] = torch.tensor(v, dtype=torch.float64)
    missing, unexpected = hf.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids") and m != "cls.predictions.decoder.weight"
               and m != "cls.predictions.decoder.bias"]
    assert not missing and not unexpected, (missing, unexpected)
    # BertForMaskedLM ties the decoder to the word embeddings; make sure it did.
    assert torch.equal(hf.cls.predictions.decoder.weight, hf.bert.embeddings.word_embeddings.weight)
    ids_t = torch.tensor(ids, dtype=torch.long)
    mask_t = torch.tensor(mask, dtype=torch.long)
    with torch.no_grad():
        ref = hf(input_ids=ids_t, attention_mask=mask_t, token_type_ids=torch.zeros_like(ids_t),
                 output_hidden_states=True)
    p = {k: torch.tensor(v, dtype=torch.float64) for k, v in params_np.items()}
    with torch.no_grad():
        h = bert_embeddings(p, arch, ids_t)
        for i in range(arch.num_layers):
            h = bert_layer(p, arch, i, h, mask_t != 0)
        t = ln(gelu(lin(h, p, "mlm.transform.dense")), p, "mlm.transform.LayerNorm", arch.layer_norm_eps)
        logits = t @ p["lm.embeddings.word_embeddings.weight"].t() + p["mlm.bias"]
    real = mask_t.bool()
    dh = (h - ref.hidden_states[-1])[real].abs().max().item()
    dl = (logits - ref.logits)[real].abs().max().item()
    return dh, dl


def gnn_layer_loops(p, a, l, x, u, e, src, tgt):
    """The GNN layer with explicit per-target loops: a second, independent implementation."""
    N, g = x.shape
    Hg = a.gnn_heads
    dh = g // Hg
    pre = f"gnn.layers.{l}."
    agg = torch.zeros((N, g), dtype=x.dtype)
    Wq, bq = p[pre + "query.weight"], p[pre + "query.bias"]
    Wk, bk = p[pre + "key.weight"], p[pre + "key.bias"]
    Wm, bm = p[pre + "message.weight"], p[pre + "message.bias"]
    for t in range(N):
        incoming = [i for i in range(len(src)) if int(tgt[i]) == t]
        if not incoming:
            continue
        zt = torch.cat([x[t], u[t]])
        qt = Wq @ zt + bq
        for hh in range(Hg):
            sl = slice(hh * dh, (hh + 1) * dh)
            scores, msgs = [], []
            for i in incoming:
                s = int(src[i])
                zse = torch.cat([x[s], u[s], e[i]])
                kk = Wk @ zse + bk
                mm = Wm @ zse + bm
                scores.append(float((qt[sl] * kk[sl]).sum()) / math.sqrt(dh))
                msgs.append(mm[sl])
            mx = max(scores)
            ws = [math.exp(s - mx) for s in scores]
            z = sum(ws)
            for wgt, mm in zip(ws, msgs):
                agg[t, sl] += (wgt / z) * mm
    o1 = agg @ p[pre + "out.0.weight"].t() + p[pre + "out.0.bias"]
    mu = o1.mean(1, keepdim=True)
    var = ((o1 - mu) ** 2).mean(1, keepdim=True)
    nrm = (o1 - mu) / torch.sqrt(var + GNN_LN_EPS) * p[pre + "out.1.weight"] + p[pre + "out.1.bias"]
    o2 = torch.clamp(nrm, min=0) @ p[pre + "out.2.weight"].t() + p[pre + "out.2.bias"]
    return 0.5 * o2 * (1 + torch.erf(o2 / math.sqrt(2)))


def check_gnn_loops(params_np, arch, batch_np, memory_np):
    p = {k: torch.tensor(v, dtype=torch.float64) for k, v in params_np.items()}
    b = {k: torch.tensor(np.asarray(v), dtype=torch.long) for k, v in batch_np.items()}
    memory = torch.tensor(memory_np, dtype=torch.float64)
    src, tgt = b["graph/edge_index"][0], b["graph/edge_index"][1]
    with torch.no_grad():
        x = node_input(p, arch, memory, b["graph/node_entity"])
        u = p["gnn.node_type.weight"][b["graph/node_type"]]
        e = edge_features(p, arch, b["graph/node_type"], src, tgt, b["graph/edge_type"])
        worst = 0.0
        for l in range(arch.fusion_layers):
            y1 = gnn_layer(p, arch, l, x, u, e, src, tgt)
            y2 = gnn_layer_loops(p, arch, l, x, u, e, src, tgt)
            worst = max(worst, (y1 - y2).abs().max().item())
            x = y1
    return worst


def check_lp_loops(out, batch_np, params_np, arch, counts):
    """Link-prediction loss sum recomputed with plain numpy loops from the final node states."""
    n = out["n"].detach().double().numpy()
    g = arch.gnn_hidden
    mu = n.mean(1, keepdims=True)
    var = ((n - mu) ** 2).mean(1, keepdims=True)
    nh = (n - mu) / np.sqrt(var + GNN_LN_EPS) * params_np["linkpred.norm.weight"] + params_np["linkpred.norm.bias"]
    w = params_np["linkpred.relation.weight"].astype(np.float64)

    def score(h, r, t):
        return float(np.sum(nh[h] / math.sqrt(g) * w[r] * nh[t]))

    def logsig(v):
        return -math.log1p(math.exp(-v)) if v >= 0 else v - math.log1p(math.exp(v))

    total = 0.0
    for i, (h, r, t) in enumerate(batch_np["linkpred/pos"]):
        neg = [score(hh, r, t) for hh in batch_np["linkpred/neg_head"][i]] + \
              [score(h, r, tt) for tt in batch_np["linkpred/neg_tail"][i]]
        mx = max(neg)
        ex = [math.exp(s - mx) for s in neg]
        z = sum(ex)
        term = -logsig(score(h, r, t)) - sum(e / z * logsig(-s) for e, s in zip(ex, neg))
        total += 0.5 * term + RELATION_L2 * float(np.sum(w[r] ** 2)) / g
    return total


# ---------------------------------------------------------------------------------------------
# make-fixture: the tiny model and batch
# ---------------------------------------------------------------------------------------------

TINY = dict(vocab_size=53, hidden_size=16, num_layers=3, num_heads=2, ffn_size=24, max_positions=12,
            type_vocab_size=2, pad_token_id=0, layer_norm_eps=1e-12, fusion_layers=2, gnn_hidden=8,
            gnn_heads=2, mint_hidden=12, num_relations=3, mlm_weight=1.0, lp_weight=0.5)
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
FIRST_ORDINARY_ID = 5
TINY_B, TINY_T = 3, 12
LENGTHS = [12, 9, 7]                 # rows 1 and 2 are padded
LABELLED = [[2, 5, 9], [3, 6], [1, 4]]   # masked positions per row (MLM labels)
ENTITIES = 12                        # |E|, rows of the entity memory
# per segment: (linked nodes, other nodes, KG edges among the KG nodes, link positives)
SEGMENTS = [(2, 3, 6, 3), (3, 4, 8, 4), (2, 2, 4, 2)]
# source nodes (DESIGN §2, §6: type 1, x⁰ = 0, node_entity −1): per segment, which of its type-1
# nodes (1-based among them) is one — segment 0's second, segment 1's first, segment 2 none
SOURCE_NODE = [2, 1, None]
SEED = 20240611


def tiny_config_json(a):
    """The `config` root attribute: the project's YAML keys (DESIGN §10), model + train."""
    model = collections.OrderedDict([
        ("init_from", None),
        ("fusion_layers", a.fusion_layers), ("gnn_hidden", a.gnn_hidden), ("gnn_heads", a.gnn_heads),
        ("mint_hidden", a.mint_hidden), ("max_tokens", TINY_T), ("max_nodes", max(1 + s[0] + s[1] for s in SEGMENTS)),
        ("dropout", 0.0), ("gnn_dropout", 0.0),
        ("hidden_size", a.hidden_size), ("num_layers", a.num_layers), ("num_heads", a.num_heads),
        ("ffn_size", a.ffn_size), ("vocab_size", a.vocab_size), ("max_positions", a.max_positions),
        ("type_vocab_size", a.type_vocab_size), ("pad_token_id", a.pad_token_id),
        ("layer_norm_eps", a.layer_norm_eps),
    ])
    train = collections.OrderedDict([("mlm_weight", a.mlm_weight), ("lp_weight", a.lp_weight)])
    return json.dumps({"model": model, "train": train}, sort_keys=True)


def make_tiny_params(a, gen):
    """Random parameters: every tensor away from its default so every gradient is meaningful."""
    params = collections.OrderedDict()
    for name, shape in expected_param_shapes(a).items():
        last = name.rsplit(".", 1)[-1]
        is_norm = (".LayerNorm." in name or name.startswith("gnn.edge_encoder.1.") or ".out.1." in name
                   or name.startswith("mint.norm.") or name.startswith("linkpred.norm."))
        if is_norm and last == "weight":
            v = 1.0 + 0.1 * gen.standard_normal(shape)
        elif is_norm or last == "bias":
            v = 0.1 * gen.standard_normal(shape)
        elif name.startswith("lm.embeddings."):
            v = 0.3 * gen.standard_normal(shape)             # [PAD] row included
        elif name == "gnn.node_type.weight":
            v = 0.3 * gen.standard_normal(shape)
        elif name == "linkpred.relation.weight":
            v = 0.5 * gen.standard_normal(shape)             # scores of order 1
        elif name == "gnn.edge_encoder.0.weight":
            v = 0.3 * gen.standard_normal(shape)             # one-hot input: per-column scale
        else:
            v = gen.standard_normal(shape) / math.sqrt(shape[1])   # N(0, 1/fan_in): 0.2–0.35 here
        params[name] = np.ascontiguousarray(v, dtype=np.float32)
    return params


def make_tiny_batch(a, gen):
    B, T, R = TINY_B, TINY_T, a.num_relations
    V = a.vocab_size
    ids = np.full((B, T), PAD, dtype=np.int32)
    mask = np.zeros((B, T), dtype=np.int32)
    labels = np.full((B, T), -100, dtype=np.int32)
    mention = np.zeros((B, T), dtype=np.int32)
    for b, n in enumerate(LENGTHS):
        ids[b, 0] = CLS
        ids[b, 1:n - 1] = gen.integers(FIRST_ORDINARY_ID, V, size=n - 2)
        ids[b, n - 1] = SEP
        mask[b, :n] = 1
        for k, t in enumerate(LABELLED[b]):
            assert 0 < t < n - 1
            labels[b, t] = ids[b, t]
            if k % 3 == 0:
                ids[b, t] = MASK                                       # 80%: [MASK]
            elif k % 3 == 1:
                ids[b, t] = gen.integers(FIRST_ORDINARY_ID, V)          # 10%: a random token
            # else 10%: unchanged
    # mention spans (cosmetic here: only routing attribution reads them)
    for b, spans in enumerate([[(1, 3), (6, 8)], [(2, 4), (5, 6), (7, 8)], [(1, 2), (3, 5)]]):
        for s, e in spans:
            mention[b, s:e] = 1

    node_ptr = [0]
    node_entity, node_type, node_source = [], [], []
    edges = []                       # (src, tgt, rel)
    pos, neg_head, neg_tail = [], [], []
    for b, (n_linked, n_other, n_kg, n_pos) in enumerate(SEGMENTS):
        base = node_ptr[-1]
        n_nodes = 1 + n_linked + n_other
        ents = gen.choice(ENTITIES, size=n_linked + n_other, replace=False)
        seg_entity = [-1] + [int(e) for e in ents]
        seg_source = [-1] * n_nodes
        if SOURCE_NODE[b] is not None:                 # a source: x⁰ = 0, its id kept aside
            v = SOURCE_NODE[b]
            seg_source[v], seg_entity[v] = seg_entity[v], -1
        node_entity += seg_entity
        node_source += seg_source
        node_type += [0] + [1] * n_linked + [2] * n_other
        kg_nodes = list(range(base + 1, base + n_nodes))
        # KG triples among the KG nodes: distinct unordered pairs, forward relation r < R
        pairs = [(s, t) for s in kg_nodes for t in kg_nodes if s < t]
        chosen = gen.choice(len(pairs), size=n_kg, replace=False)
        triples = []
        for c in chosen:
            s, t = pairs[c]
            if gen.random() < 0.5:
                s, t = t, s
            triples.append((s, int(gen.integers(R)), t))
        # positives: n_pos of the forward triples; the first P − ⌊0.1 P⌋ leave the GNN input
        pick = gen.choice(len(triples), size=n_pos, replace=False)
        positives = [triples[i] for i in pick]
        removed = {frozenset((h, t)) for h, _, t in positives[:n_pos - n_pos // 10]}
        seg_edges = [(v, v, 2 * R + 2) for v in range(base, base + n_nodes)]        # self-loops
        for v in range(base + 1, base + 1 + n_linked):
            seg_edges += [(base, v, 2 * R), (v, base, 2 * R + 1)]                 # interaction ↔ linked
        for s, r, t in triples:
            if frozenset((s, t)) in removed:
                continue
            seg_edges += [(s, t, r), (t, s, r + R)]                                 # KG + inverse
        edges += seg_edges
        for h, r, t in positives:
            pos.append((h, r, t))
            neg_head.append(gen.choice(kg_nodes, size=NEGATIVES_PER_SIDE, replace=True))
            neg_tail.append(gen.choice(kg_nodes, size=NEGATIVES_PER_SIDE, replace=True))
        node_ptr.append(base + n_nodes)
    # edges in a random order: the model must not depend on the order (Swift sorts by target)
    edges = [edges[i] for i in gen.permutation(len(edges))]
    edge_index = np.array([[s for s, _, _ in edges], [t for _, t, _ in edges]], dtype=np.int32)
    edge_type = np.array([r for _, _, r in edges], dtype=np.int32)
    batch = collections.OrderedDict([
        ("tokens/input_ids", ids), ("tokens/attention_mask", mask), ("tokens/mlm_labels", labels),
        ("tokens/mention_mask", mention),
        ("graph/node_ptr", np.array(node_ptr, dtype=np.int32)),
        ("graph/node_entity", np.array(node_entity, dtype=np.int32)),
        ("graph/node_type", np.array(node_type, dtype=np.int32)),
        ("graph/node_source_entity", np.array(node_source, dtype=np.int32)),
        ("graph/edge_index", edge_index), ("graph/edge_type", edge_type),
        ("linkpred/pos", np.array(pos, dtype=np.int32).reshape(-1, 3)),
        ("linkpred/neg_head", np.array(neg_head, dtype=np.int32).reshape(-1, NEGATIVES_PER_SIDE)),
        ("linkpred/neg_tail", np.array(neg_tail, dtype=np.int32).reshape(-1, NEGATIVES_PER_SIDE)),
    ])
    memory = gen.standard_normal((ENTITIES, a.hidden_size)).astype(np.float32)
    return batch, memory


def str_attr(obj, key, text):
    data = text.encode("utf-8")
    obj.attrs.create(key, np.array(data, dtype=h5py.string_dtype("utf-8", len(data))))


def generator_string():
    import transformers
    return (f"{SCRIPT_NAME} make-fixture; python {platform.python_version()}, torch {torch.__version__}, "
            f"transformers {transformers.__version__}, h5py {h5py.__version__}, numpy {np.__version__}, "
            f"HDF5 {h5py.version.hdf5_version}")


def write_dump(path, arch, config_json, batch, memory, params, grads, losses, counts, generator):
    B, T = batch["tokens/input_ids"].shape
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with h5py.File(path, "w", libver=LIBVER) as f:
        str_attr(f, "format", "kelm-dist-batch")
        f.attrs.create("format_version", np.int64(FORMAT_VERSION))
        f.attrs.create("B", np.int64(B))
        f.attrs.create("T", np.int64(T))
        str_attr(f, "config", config_json)
        f.attrs.create("loss", np.float64(losses["loss"]))
        f.attrs.create("mlm_loss", np.float64(losses["mlm_loss"]))
        f.attrs.create("lp_loss", np.float64(losses["lp_loss"]))
        f.attrs.create("mlm_count", np.int64(counts[0]))
        f.attrs.create("lp_count", np.int64(counts[1]))
        str_attr(f, "generator", generator)
        for name, v in batch.items():
            f.create_dataset(name, data=np.ascontiguousarray(v, dtype=np.int32))
        f.create_dataset("memory/entity_context", data=np.ascontiguousarray(memory, dtype=np.float32))
        gp, gg = f.create_group("params"), f.create_group("grads")
        for name in params:
            gp.create_dataset(h5_path(name), data=np.ascontiguousarray(params[name], dtype=np.float32))
            gg.create_dataset(h5_path(name), data=np.ascontiguousarray(grads[name], dtype=np.float32))


def setup_determinism():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def print_group_magnitudes(grads):
    G = max(float(np.abs(g).max()) for g in grads.values())
    print(f"gradient magnitudes per group (DESIGN §5 groups; largest |g| in the model G = {G:.3e}):")
    print(f"  {'group':14s} {'tensors':>7s} {'L2 norm':>10s} {'max|g|':>10s} {'smallest tensor max|g|':>24s}")
    for grp in GROUPS:
        names = [n for n in grads if param_group(n) == grp]
        if not names:
            continue
        l2 = math.sqrt(sum(float((grads[n].astype(np.float64) ** 2).sum()) for n in names))
        mx = max(float(np.abs(grads[n]).max()) for n in names)
        small = min(names, key=lambda n: float(np.abs(grads[n]).max()))
        print(f"  {grp:14s} {len(names):7d} {l2:10.3e} {mx:10.3e}   {float(np.abs(grads[small]).max()):9.2e} {small}")
    tiny = [n for n in grads if float(np.abs(grads[n]).max()) < 1e-6 * G]
    if tiny:
        print("  tensors with max|g| < 1e-6·G (analytically zero: attention key biases, by softmax shift-invariance):")
        for n in tiny:
            print(f"    {n}: {float(np.abs(grads[n]).max()):.1e}")


def make_fixture(out_path):
    setup_determinism()
    torch.manual_seed(SEED)
    gen = np.random.default_rng(SEED)
    arch = Arch(**TINY)
    params = make_tiny_params(arch, gen)
    batch, memory = make_tiny_batch(arch, gen)
    counts = (int((batch["tokens/mlm_labels"] != -100).sum()), int(batch["linkpred/pos"].shape[0]))

    # Reference: float64 from the float32-rounded parameters and memory that the file stores.
    losses, grads, out = run(params, arch, batch, memory, counts, torch.float64)
    losses32, grads32, _ = run(params, arch, batch, memory, counts, torch.float32)

    # Checks of the reference against independent computations.
    dh, dl = check_lm_against_transformers(params, arch, batch["tokens/input_ids"],
                                           batch["tokens/attention_mask"], batch["tokens/mlm_labels"])
    dg = check_gnn_loops(params, arch, batch, memory)
    lp_loop = check_lp_loops(out, batch, params, arch, counts)
    print("self-checks of the reference (float64):")
    print(f"  text-only LM vs transformers.BertForMaskedLM: hidden {dh:.1e}, logits {dl:.1e}")
    print(f"  vectorised GNN layers vs per-target loops: {dg:.1e}")
    print(f"  LP loss sum vs numpy loops: {abs(lp_loop - losses['lp_sum']):.1e}")
    assert dh < 1e-10 and dl < 1e-10 and dg < 1e-10 and abs(lp_loop - losses["lp_sum"]) < 1e-10

    generator = generator_string()
    write_dump(out_path, arch, tiny_config_json(arch), batch, memory, params, grads, losses, counts, generator)

    N = len(batch["graph/node_entity"])
    E = batch["graph/edge_index"].shape[1]
    P = batch["linkpred/pos"].shape[0]
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes)")
    print(f"  B {TINY_B}, T {TINY_T} (lengths {LENGTHS}), N {N} nodes (per segment "
          f"{np.diff(batch['graph/node_ptr']).tolist()}), E {E} edges, P {P} positives, |E| {ENTITIES} entities")
    print(f"  dims: " + ", ".join(f"{k} {v}" for k, v in arch.as_dict().items()))
    print(f"  loss {losses['loss']:.10f} = {arch.mlm_weight}·mlm {losses['mlm_loss']:.10f} + "
          f"{arch.lp_weight}·lp {losses['lp_loss']:.10f}; mlm_count {counts[0]}, lp_count {counts[1]}")
    print(f"  float32 PyTorch vs float64: loss {abs(losses32['loss'] - losses['loss']):.1e}, worst gradient "
          f"{max(float(np.abs(grads32[n] - grads[n]).max()) for n in grads):.1e}")

    # Reload and replay what was written.
    with h5py.File(out_path, "r") as f:
        reloaded = {n: f["grads/" + h5_path(n)][()] for n in params}
    print_group_magnitudes(reloaded)
    print()
    print(f"replay of {out_path}:")
    code = replay(out_path, Tolerances())
    if code != 0:
        raise SystemExit("the fixture does not replay cleanly")


# ---------------------------------------------------------------------------------------------
# replay: read, validate and recompute a §9 dump
# ---------------------------------------------------------------------------------------------

class Tolerances:
    def __init__(self, rtol=1e-4, atol=1e-6, noise_factor=10.0, loss_rtol=1e-5, ignore=None):
        self.rtol, self.atol, self.noise_factor, self.loss_rtol = rtol, atol, noise_factor, loss_rtol
        self.ignore = re.compile(ignore) if ignore else None


def read_attr(f, key):
    v = f.attrs[key]
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
        if isinstance(v, bytes):
            return v.decode("utf-8")
    return v


def collect_tensors(group, prefix=""):
    """name (with '.') -> dataset, for every dataset below `group`."""
    out = collections.OrderedDict()

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name.replace("/", ".")] = obj
    group.visititems(visit)
    return out


def validate_and_load(f, problems, notes):
    """Reads the dump, appending every deviation from §9 to `problems`. Returns what could be
    loaded: (config, batch, memory, params, grads) with None for the parts that are absent."""
    # root attributes
    attrs = {}
    for k in ROOT_ATTRS:
        if k not in f.attrs:
            problems.append(f"root attribute `{k}` is missing")
        else:
            attrs[k] = read_attr(f, k)
    if attrs.get("format") not in (None, "kelm-dist-batch"):
        problems.append(f"format is {attrs['format']!r}, expected 'kelm-dist-batch'")
    version = int(attrs["format_version"]) if "format_version" in attrs else FORMAT_VERSION
    if version not in (1, FORMAT_VERSION):
        problems.append(f"format_version is {attrs['format_version']}, expected {FORMAT_VERSION} (or 1, before source nodes)")
    for k in ("format_version", "B", "T", "mlm_count", "lp_count"):
        if k in f.attrs and not np.issubdtype(np.asarray(f.attrs[k]).dtype, np.integer):
            problems.append(f"root attribute `{k}` is {np.asarray(f.attrs[k]).dtype}, expected an integer")
    for k in ("loss", "mlm_loss", "lp_loss"):
        if k in f.attrs and np.asarray(f.attrs[k]).dtype != np.float64:
            problems.append(f"root attribute `{k}` is {np.asarray(f.attrs[k]).dtype}, expected float64")
    config = {}
    if "config" in attrs:
        try:
            config = json.loads(attrs["config"])
        except (TypeError, ValueError) as e:
            problems.append(f"config is not valid JSON: {e}")

    # integer datasets
    batch = collections.OrderedDict()
    for name, rank in INT_DATASETS.items():
        if name not in f:
            if version < 2 and name in OPTIONAL_BEFORE_V2:
                continue
            problems.append(f"dataset /{name} is missing")
            continue
        ds = f[name]
        if ds.dtype != np.int32:
            problems.append(f"/{name} is {ds.dtype}, expected int32")
        if ds.ndim != rank:
            problems.append(f"/{name} has rank {ds.ndim}, expected {rank}")
            continue
        batch[name] = ds[()].astype(np.int64)
    memory = None
    if "memory/entity_context" not in f:
        problems.append("dataset /memory/entity_context is missing")
    else:
        ds = f["memory/entity_context"]
        if ds.dtype != np.float32:
            problems.append(f"/memory/entity_context is {ds.dtype}, expected float32")
        if ds.ndim != 2:
            problems.append(f"/memory/entity_context has rank {ds.ndim}, expected 2")
        else:
            memory = ds[()].astype(np.float64)

    # params / grads
    params, grads = None, None
    if "params" not in f:
        problems.append("group /params is missing")
    else:
        params = collections.OrderedDict()
        for n, ds in collect_tensors(f["params"]).items():
            if ds.dtype != np.float32:
                problems.append(f"/params/{h5_path(n)} is {ds.dtype}, expected float32")
            params[n] = ds[()]
    if "grads" not in f:
        problems.append("group /grads is missing")
    else:
        grads = collections.OrderedDict()
        for n, ds in collect_tensors(f["grads"]).items():
            if ds.dtype != np.float32:
                problems.append(f"/grads/{h5_path(n)} is {ds.dtype}, expected float32")
            grads[n] = ds[()]
    return attrs, config, batch, memory, params, grads


def check_consistency(attrs, arch, batch, memory, params, grads, problems, notes):
    """Sizes and value ranges of everything against each other (DESIGN §2, §9)."""
    expected = expected_param_shapes(arch) if None not in arch.as_dict().values() else None
    if expected is not None and params is not None:
        for n, s in expected.items():
            if n not in params:
                problems.append(f"parameter {n} {list(s)} is missing from /params")
            elif tuple(params[n].shape) != s:
                problems.append(f"/params {n} has shape {list(params[n].shape)}, expected {list(s)}")
        for n in params:
            if n not in expected:
                problems.append(f"/params holds an unexpected tensor {n} {list(params[n].shape)}")
    if params is not None and grads is not None:
        for n in params:
            if n not in grads:
                problems.append(f"no gradient for {n}")
            elif grads[n].shape != params[n].shape:
                problems.append(f"gradient of {n} has shape {list(grads[n].shape)}, parameter {list(params[n].shape)}")
        for n in grads:
            if n not in params:
                problems.append(f"/grads holds {n}, which is not in /params")
    for n, g in (grads or {}).items():
        if not np.all(np.isfinite(g)):
            problems.append(f"gradient of {n} has non-finite entries")
    for n, p in (params or {}).items():
        if not np.all(np.isfinite(p)):
            problems.append(f"parameter {n} has non-finite entries")

    def need(*names):
        return all(n in batch for n in names)

    B = T = None
    if need("tokens/input_ids"):
        B, T = batch["tokens/input_ids"].shape
        if "B" in attrs and int(attrs["B"]) != B:
            problems.append(f"attribute B = {attrs['B']} but /tokens/input_ids has {B} rows")
        if "T" in attrs and int(attrs["T"]) != T:
            problems.append(f"attribute T = {attrs['T']} but /tokens/input_ids has {T} columns")
        for n in ("tokens/attention_mask", "tokens/mlm_labels", "tokens/mention_mask"):
            if n in batch and batch[n].shape != (B, T):
                problems.append(f"/{n} has shape {list(batch[n].shape)}, expected [{B}, {T}]")
        ids = batch["tokens/input_ids"]
        if arch.vocab_size and (ids.min() < 0 or ids.max() >= arch.vocab_size):
            problems.append(f"/tokens/input_ids outside 0..<{arch.vocab_size}")
        if arch.max_positions and T > arch.max_positions:
            problems.append(f"T = {T} exceeds max_positions {arch.max_positions}")
    if need("tokens/attention_mask"):
        m = batch["tokens/attention_mask"]
        if not np.isin(m, (0, 1)).all():
            problems.append("/tokens/attention_mask holds values other than 0 and 1")
        elif (m[:, 0] == 0).any():
            problems.append("a segment's [CLS] position 0 is padding")
    if need("tokens/mention_mask") and not np.isin(batch["tokens/mention_mask"], (0, 1)).all():
        problems.append("/tokens/mention_mask holds values other than 0 and 1")
    if need("tokens/mlm_labels"):
        lab = batch["tokens/mlm_labels"]
        bad = (lab != -100) & ((lab < 0) | (lab >= (arch.vocab_size or 1 << 30)))
        if bad.any():
            problems.append("/tokens/mlm_labels holds values that are neither −100 nor token ids")
        if need("tokens/attention_mask") and ((lab != -100) & (batch["tokens/attention_mask"] == 0)).any():
            notes.append("some MLM labels sit on padding positions")
        local = int((lab != -100).sum())
        if "mlm_count" in attrs and int(attrs["mlm_count"]) != local:
            notes.append(f"mlm_count {attrs['mlm_count']} ≠ labelled positions here ({local}): "
                         f"a global count (several ranks or micro-batches); the losses are normalised by it")

    N = None
    if need("graph/node_ptr", "graph/node_entity", "graph/node_type"):
        ptr, ent, typ = batch["graph/node_ptr"], batch["graph/node_entity"], batch["graph/node_type"]
        N = len(ent)
        if len(typ) != N:
            problems.append(f"/graph/node_type has {len(typ)} entries, /graph/node_entity {N}")
        if B is not None and len(ptr) != B + 1:
            problems.append(f"/graph/node_ptr has {len(ptr)} entries, expected B+1 = {B + 1}")
        elif len(ptr) >= 1 and (ptr[0] != 0 or ptr[-1] != N or (np.diff(ptr) < 1).any()):
            problems.append(f"/graph/node_ptr must rise strictly from 0 to N = {N}: {ptr.tolist()}")
        else:
            for b in range(len(ptr) - 1):
                s = ptr[b]
                if typ[s] != 0 or ent[s] != -1:
                    problems.append(f"node {s}, first of segment {b}, must be an interaction node (type 0, entity −1)")
            inter = np.zeros(N, dtype=bool)
            inter[ptr[:-1]] = True
            if (typ[~inter] == 0).any() or not np.isin(typ, (0, 1, 2)).all():
                problems.append("node types must be 0 on interaction nodes and 1 or 2 elsewhere")
            src = batch.get("graph/node_source_entity", np.full(N, -1))
            if len(src) != N:
                problems.append(f"/graph/node_source_entity has {len(src)} entries, /graph/node_entity {N}")
                src = np.full(N, -1)
            source = src >= 0
            if (source & inter).any():
                problems.append("an interaction node has a source entity")
            if (source & ((typ != 1) | (ent != -1))).any():
                problems.append("a source node (node_source_entity ≥ 0) must be type 1 with node_entity −1 (x⁰ = 0)")
            if memory is not None:
                E_ent = memory.shape[0]
                row = ~inter & ~source
                if ((ent[row] < 0) | (ent[row] >= E_ent)).any():
                    problems.append(f"/graph/node_entity outside 0..<{E_ent} (rows of the memory) on a KG node that is not a source")
                if (src[source] >= E_ent).any():
                    problems.append(f"/graph/node_source_entity outside 0..<{E_ent}")
    if memory is not None and arch.hidden_size and memory.shape[1] != arch.hidden_size:
        problems.append(f"/memory/entity_context has width {memory.shape[1]}, expected d = {arch.hidden_size}")
    if memory is not None and not np.all(np.isfinite(memory)):
        problems.append("/memory/entity_context has non-finite entries")

    if need("graph/edge_index", "graph/edge_type"):
        ei, et = batch["graph/edge_index"], batch["graph/edge_type"]
        if ei.shape[0] != 2:
            problems.append(f"/graph/edge_index has shape {list(ei.shape)}, expected [2, E]")
        elif et.shape != (ei.shape[1],):
            problems.append(f"/graph/edge_type has {et.shape[0]} entries, /graph/edge_index {ei.shape[1]} edges")
        elif N is not None:
            if ei.size and (ei.min() < 0 or ei.max() >= N):
                problems.append(f"/graph/edge_index outside 0..<{N}")
            elif "graph/node_ptr" in batch and len(batch["graph/node_ptr"]) >= 1:
                seg = np.searchsorted(batch["graph/node_ptr"], np.arange(N), side="right") - 1
                if (seg[ei[0]] != seg[ei[1]]).any():
                    problems.append("an edge joins two segments")
            if arch.num_relations and et.size and (et.min() < 0 or et.max() >= arch.edge_relations):
                problems.append(f"/graph/edge_type outside 0..<{arch.edge_relations} (2R+3)")
            if arch.num_relations and ei.size and ei.min() >= 0 and ei.max() < N:
                loops = np.zeros(N, dtype=bool)
                loops[ei[0][(ei[0] == ei[1]) & (et == 2 * arch.num_relations + 2)]] = True
                if not loops.all():
                    notes.append(f"{int((~loops).sum())} nodes have no self-loop edge (DESIGN §2: every node has one)")

    if need("linkpred/pos", "linkpred/neg_head", "linkpred/neg_tail"):
        pos, nh, nt = batch["linkpred/pos"], batch["linkpred/neg_head"], batch["linkpred/neg_tail"]
        P = pos.shape[0]
        if pos.shape[1:] != (3,):
            problems.append(f"/linkpred/pos has shape {list(pos.shape)}, expected [P, 3]")
        for name, a in (("neg_head", nh), ("neg_tail", nt)):
            if a.shape != (P, NEGATIVES_PER_SIDE):
                problems.append(f"/linkpred/{name} has shape {list(a.shape)}, expected [{P}, {NEGATIVES_PER_SIDE}]")
        if N is not None and pos.shape[1:] == (3,) and P:
            nodes = np.concatenate([pos[:, 0], pos[:, 2], nh.ravel(), nt.ravel()])
            if nodes.min() < 0 or nodes.max() >= N:
                problems.append(f"link-prediction node ids outside 0..<{N}")
            elif "graph/node_type" in batch and (batch["graph/node_type"][nodes] == 0).any():
                notes.append("some link-prediction heads/tails/negatives are interaction nodes")
            if arch.num_relations and (pos[:, 1].min() < 0 or pos[:, 1].max() >= arch.num_relations):
                problems.append(f"link-prediction relations outside 0..<R = {arch.num_relations}")
        if "lp_count" in attrs and int(attrs["lp_count"]) != P:
            notes.append(f"lp_count {attrs['lp_count']} ≠ positives here ({P}): a global count; "
                         f"the LP loss is normalised by it")
        # DESIGN §3: per segment, the first P − ⌊0.1 P⌋ positives (in the order stored) are
        # removed from the input with every edge between their two nodes, both directions
        if (N is not None and P and pos.shape[1:] == (3,) and "graph/node_ptr" in batch
                and need("graph/edge_index", "graph/edge_type") and arch.num_relations
                and pos.min() >= 0 and pos[:, [0, 2]].max() < N):
            ptr = batch["graph/node_ptr"]
            seg = np.searchsorted(ptr, pos[:, 0], side="right") - 1
            ei, et = batch["graph/edge_index"], batch["graph/edge_type"]
            kg = et < 2 * arch.num_relations
            pairs = {frozenset((int(a), int(b))) for a, b in zip(ei[0][kg], ei[1][kg])}
            for b in np.unique(seg):
                mine = pos[seg == b]
                for h, _, t in mine[:len(mine) - len(mine) // 10]:
                    if frozenset((int(h), int(t))) in pairs:
                        problems.append(f"segment {b}: positive ({h}, {t}) is among the first P − ⌊0.1 P⌋ but an edge "
                                        f"between its nodes is still in the input")


def fmt_shape(s):
    return "[" + ",".join(str(x) for x in s) + "]"


def replay(path, tol, show_all=False):
    problems, notes = [], []
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        print(f"cannot open {path}: {e}")
        return 2
    with f:
        attrs, config, batch, memory, params, grads = validate_and_load(f, problems, notes)
        generator = read_attr(f, "generator") if "generator" in f.attrs else None
    if generator:
        print(f"  written by: {generator}")
    shapes = {n: v.shape for n, v in (params or {}).items()}
    arch = arch_from_config(config, shapes, notes)
    check_consistency(attrs, arch, batch, memory, params, grads, problems, notes)

    print(f"  model: " + ", ".join(f"{k} {v}" for k, v in arch.as_dict().items()))
    if batch.get("tokens/input_ids") is not None and batch.get("graph/node_entity") is not None:
        print(f"  batch: B {batch['tokens/input_ids'].shape[0]}, T {batch['tokens/input_ids'].shape[1]}, "
              f"N {len(batch['graph/node_entity'])}, "
              f"E {batch['graph/edge_index'].shape[-1] if 'graph/edge_index' in batch else '?'}, "
              f"P {batch['linkpred/pos'].shape[0] if 'linkpred/pos' in batch else '?'}, "
              f"|E| {memory.shape[0] if memory is not None else '?'}")
    for n in notes:
        print(f"  note: {n}")
    if problems:
        print(f"  DUMP INCOMPLETE OR INCONSISTENT ({len(problems)} problems):")
        for p in problems:
            print(f"    - {p}")
    can_compute = (params is not None and memory is not None and len(batch) == len(INT_DATASETS)
                   and None not in arch.as_dict().values()
                   and all(n in params and tuple(params[n].shape) == s for n, s in expected_param_shapes(arch).items())
                   and "mlm_count" in attrs and "lp_count" in attrs)
    if not can_compute:
        print("  cannot recompute: the parameters, the batch or the counts are incomplete")
        return 1
    counts = (int(attrs["mlm_count"]), int(attrs["lp_count"]))
    params = collections.OrderedDict((n, params[n]) for n in expected_param_shapes(arch))
    try:
        losses64, ref64, _ = run(params, arch, batch, memory, counts, torch.float64)
        losses32, ref32, _ = run(params, arch, batch, memory, counts, torch.float32)
    except (IndexError, RuntimeError, ValueError) as e:
        print(f"  recomputation failed: {e}")
        return 1

    failed = bool(problems)
    # losses
    print("  losses (dump vs float64 reference; float32 PyTorch for scale):")
    for k in ("loss", "mlm_loss", "lp_loss"):
        ref = losses64[k]
        if k in attrs:
            got = float(attrs[k])
            diff = abs(got - ref)
            limit = tol.loss_rtol * max(1.0, abs(ref)) + tol.noise_factor * abs(losses32[k] - ref)
            ok = diff <= limit
            failed |= not ok
            print(f"    {k:9s} dump {got:.10f}  ref {ref:.10f}  |Δ| {diff:.2e}  (f32 {abs(losses32[k] - ref):.1e}, "
                  f"limit {limit:.1e}) {'ok' if ok else 'FAIL'}")
        else:
            print(f"    {k:9s} (absent)        ref {ref:.10f}")
    print(f"    counts: mlm_count {counts[0]}, lp_count {counts[1]}; weights mlm {arch.mlm_weight}, lp {arch.lp_weight}")

    # gradients
    if grads:
        G = max(float(np.abs(g).max()) for g in ref64.values())
        rows = []
        for n in params:
            r = ref64[n]
            scale = float(np.abs(r).max())
            noise = float(np.abs(ref32[n] - r).max())
            limit = tol.rtol * scale + tol.atol * G + tol.noise_factor * noise
            if n in grads and grads[n].shape == r.shape:
                err = float(np.abs(grads[n].astype(np.float64) - r).max())
                remark = ""
                if not np.any(grads[n]) and scale > tol.atol * G:
                    remark = "all zero in the dump (frozen or not computed?)"
            else:
                err, remark = math.inf, "missing"
            ignored = bool(tol.ignore and tol.ignore.search(n))
            ok = err <= limit
            if not ok and not ignored:
                failed = True
            rows.append((err / limit if limit > 0 else math.inf, n, r.shape, err, scale, noise, limit, ok, ignored, remark))
        rows.sort(key=lambda x: -x[0])
        print(f"  gradients: {len(rows)} tensors, G = max |g_ref| = {G:.3e}; "
              f"limit = {tol.rtol:g}·max|g_ref| + {tol.atol:g}·G + {tol.noise_factor:g}·f32noise")
        print(f"    {'err/limit':>9s} {'max|Δ|':>9s} {'max|ref|':>9s} {'rel':>9s} {'f32noise':>9s}  "
              f"{'status':6s} tensor")
        shown = rows if show_all else [r for r in rows[:25]] + [r for r in rows[25:] if not r[7]]
        for ratio, n, shape, err, scale, noise, limit, ok, ignored, remark in shown:
            rel = err / scale if scale > 0 else (0.0 if err == 0 else math.inf)
            status = "ignore" if ignored else ("ok" if ok else "FAIL")
            print(f"    {ratio:9.2e} {err:9.2e} {scale:9.2e} {rel:9.2e} {noise:9.2e}  {status:6s} {n} "
                  f"{fmt_shape(shape)}{'  ' + remark if remark else ''}")
        if len(shown) < len(rows):
            print(f"    … {len(rows) - len(shown)} more tensors within tolerance (--all lists them)")
        worst = rows[0]
        print(f"  worst tensor: {worst[1]} max|Δ| {worst[3]:.3e} (max|ref| {worst[4]:.3e}, "
              f"{worst[0]:.2e} of its limit)")
        per_group = collections.OrderedDict()
        for ratio, n, *_ in rows:
            grp = param_group(n)
            per_group[grp] = max(per_group.get(grp, 0.0), ratio)
        print("  worst err/limit per group: " + ", ".join(f"{g} {v:.1e}" for g, v in per_group.items()))
    else:
        print("  no gradients to compare")
        failed = True
    print("  RESULT: " + ("FAIL" if failed else "PASS"))
    return 1 if failed else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    mk = sub.add_parser("make-fixture", help="write the tiny reference dump")
    mk.add_argument("out", nargs="?", default=DEFAULT_FIXTURE)
    rp = sub.add_parser("replay", help="recompute a §9 dump and compare",
                        description="Per tensor t: max|g_dump − g_ref64| ≤ rtol·max|g_ref64,t| + atol·G + "
                                    "noise_factor·max|g_ref32 − g_ref64|, G = largest |g_ref64| entry of the model.")
    rp.add_argument("dump")
    rp.add_argument("--rtol", "--tolerance", type=float, default=1e-4, dest="rtol",
                    help="relative to the tensor's own max|g_ref| (default 1e-4)")
    rp.add_argument("--atol", type=float, default=1e-6,
                    help="relative to G, the model's largest |g_ref| entry (default 1e-6)")
    rp.add_argument("--noise-factor", type=float, default=10.0,
                    help="multiple of PyTorch's own float32-vs-float64 error on this batch (default 10)")
    rp.add_argument("--loss-rtol", type=float, default=1e-5,
                    help="loss limit: loss_rtol·max(1,|loss|) + noise_factor·f32 error (default 1e-5)")
    rp.add_argument("--ignore", default=None, help="regex of tensor names reported but not judged")
    rp.add_argument("--all", action="store_true", help="list every tensor")
    args = ap.parse_args(argv)
    if args.command == "make-fixture":
        make_fixture(args.out)
        return 0
    setup_determinism()
    print(f"replay of {args.dump}:")
    return replay(args.dump, Tolerances(args.rtol, args.atol, args.noise_factor, args.loss_rtol, args.ignore),
                  show_all=args.all)


if __name__ == "__main__":
    sys.exit(main())
