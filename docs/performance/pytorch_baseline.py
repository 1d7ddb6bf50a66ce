#!/usr/bin/env python3
"""PyTorch baseline for `kelm-dist bench lm --all-positions` and `kelm-dist bench model`.

Measures the same training steps in PyTorch on the CPU (docs/performance.md); not run by CI.

    python3 docs/performance/pytorch_baseline.py [lm] [model] [--threads 1 2] [--steps 15]
        [--warmup 3] [--json]

lm    transformers' BertForMaskedLM, MiniLM-L6-H384 shape (V 30522, d 384, L 6, H 12, d_ff 1536),
      random initialisation, dropout 0, AdamW (lr 1e-4, weight decay 0.01 on weights), batch
      8 × 128 tokens, 19 masked positions per segment (15%), logits at every position (what
      BertForMaskedLM computes), loss at the masked ones. Step = forward, backward,
      optimizer.step(), zero_grad().
model the fusion model of DESIGN §2 as Tests/Fixtures/fusion_reference.py writes it (its
      `forward`, in float32), at bench model's shape: MiniLM LM + K 3 fusion layers, d_g 128, 4
      GNN heads, J 64 nodes per segment, R 20, 5000 entities, logits at the masked positions;
      a synthetic batch built like Sources/KELMTraining/Synthetic/SyntheticFusionBatch.swift
      (same counts, PyTorch's own random numbers); AdamW as above.

Each configuration: `torch.set_num_threads(n)`, `warmup` untimed steps, then the median of
`steps` timed steps; tokens/s = B·T / median. Prints the library build (MKL, oneDNN, the CPU
capability PyTorch dispatches to) so the comparison can be reproduced.
"""

import argparse
import importlib.util
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

B, T = 8, 128
V, D, L, H, FF = 30522, 384, 6, 12, 1536
CLS, SEP, MASK = 101, 102, 103
MASK_FRACTION = 0.15


def token_batch(gen):
    """Random ids with [CLS] … [SEP], 19 whole positions per segment masked (as LMBenchmark)."""
    ids = torch.randint(999, V, (B, T), generator=gen)
    ids[:, 0] = CLS
    ids[:, T - 1] = SEP
    labels = torch.full((B, T), -100, dtype=torch.long)
    budget = max(1, int(MASK_FRACTION * (T - 2) + 0.5))
    for b in range(B):
        pos = 1 + torch.randperm(T - 2, generator=gen)[:budget]
        labels[b, pos] = ids[b, pos]
        ids[b, pos] = MASK
    return ids, torch.ones((B, T), dtype=torch.long), labels


def adamw(named_params):
    """AdamW with DESIGN §5's decay groups: no decay on biases and LayerNorm parameters."""
    decay, no_decay = [], []
    for name, p in named_params:
        (no_decay if p.dim() == 1 or "LayerNorm" in name or ".norm" in name else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                              {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)


def time_steps(step, warmup, steps):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def bench_lm(threads, warmup, steps):
    import transformers
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=H,
                                     intermediate_size=FF, hidden_dropout_prob=0.0,
                                     attention_probs_dropout_prob=0.0)
    model = transformers.BertForMaskedLM(config)
    model.train()
    opt = adamw(model.named_parameters())
    ids, mask, labels = token_batch(torch.Generator().manual_seed(0))

    def step():
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        return out.loss

    torch.set_num_threads(threads)
    median, times = time_steps(step, warmup, steps)
    return dict(benchmark="lm --all-positions", threads=threads, tokens_per_s=B * T / median,
                sec_per_step=median, times=times, logit_rows=B * T,
                attention=getattr(model.config, "_attn_implementation", "eager"))


def load_reference():
    path = os.path.join(REPO, "Tests", "Fixtures", "fusion_reference.py")
    spec = importlib.util.spec_from_file_location("fusion_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_graph(gen, R, J=64, entities=5000, kg_degree=3):
    """As SyntheticFusionBatch: per segment an interaction node, J/4 linked and the other nodes;
    self-loops, interaction↔linked edges, kg_degree random KG edges per node with inverses;
    P = min(100, ⌊0.15·candidates⌋) positives, ⌊0.9 P⌋ of them cut from the graph, 32 + 32 negatives."""
    rng = np.random.default_rng(gen)
    linked = max(1, J // 4)
    node_entity, node_type, node_ptr = [], [], [0]
    edges, pos, neg_head, neg_tail = [], [], [], []
    for b in range(B):
        base = len(node_entity)
        ents = rng.choice(entities, size=J - 1, replace=False)
        node_entity += [-1] + [int(e) for e in ents]
        node_type += [0] + [1 if v <= linked else 2 for v in range(1, J)]
        node_ptr.append(len(node_entity))
        kg = []
        for v in range(1, J):
            for _ in range(kg_degree):
                u = 1 + int(rng.integers(J - 1))
                if u == v:
                    u = u % (J - 1) + 1
                kg.append((base + v, int(rng.integers(R)), base + u))
        P = min(100, len(kg) * 15 // 100)
        order = rng.permutation(len(kg))
        kg = [kg[i] for i in order]
        cut = {frozenset((h, t)) for h, _, t in kg[:P * 9 // 10]}
        for h, r, t in kg[:P]:
            pos.append((h, r, t))
            neg_head.append(base + 1 + rng.integers(J - 1, size=32))
            neg_tail.append(base + 1 + rng.integers(J - 1, size=32))
        edges += [(base + v, base + v, 2 * R + 2) for v in range(J)]
        for v in range(1, linked + 1):
            edges += [(base, base + v, 2 * R), (base + v, base, 2 * R + 1)]
        for s, r, t in kg:
            if frozenset((s, t)) not in cut:
                edges += [(s, t, r), (t, s, r + R)]
    long = lambda x: torch.tensor(np.asarray(x), dtype=torch.long)
    return {
        "graph/node_ptr": long(node_ptr), "graph/node_entity": long(node_entity),
        "graph/node_type": long(node_type),
        "graph/edge_index": long([[s for s, _, _ in edges], [t for _, t, _ in edges]]),
        "graph/edge_type": long([r for _, _, r in edges]),
        "linkpred/pos": long(pos), "linkpred/neg_head": long(np.stack(neg_head)),
        "linkpred/neg_tail": long(np.stack(neg_tail)),
    }


def bench_model(threads, warmup, steps):
    ref = load_reference()
    R, g = 20, 128
    arch = ref.Arch(vocab_size=V, hidden_size=D, num_layers=L, num_heads=H, ffn_size=FF, max_positions=512,
                    type_vocab_size=2, pad_token_id=0, layer_norm_eps=1e-12, fusion_layers=3, gnn_hidden=g,
                    gnn_heads=4, mint_hidden=D, num_relations=R, mlm_weight=1.0, lp_weight=1.0)
    torch.manual_seed(0)
    params = {}
    for name, shape in ref.expected_param_shapes(arch).items():
        norm = "LayerNorm" in name or ".norm." in name or ".out.1." in name or "edge_encoder.1." in name
        if len(shape) == 1:
            t = torch.ones(shape) if norm and name.endswith("weight") else torch.zeros(shape)
        else:
            t = torch.randn(shape) * 0.02
        params[name] = t.requires_grad_(True)
    opt = adamw(params.items())
    ids, mask, labels = token_batch(torch.Generator().manual_seed(0))
    batch = {"tokens/input_ids": ids, "tokens/attention_mask": mask, "tokens/mlm_labels": labels}
    batch.update(synthetic_graph(0, R))
    memory = 0.5 * torch.randn(5000, D)
    counts = (int((labels != -100).sum()), int(batch["linkpred/pos"].shape[0]))

    def step():
        out = ref.forward(params, arch, batch, memory, counts)
        out["loss"].backward()
        opt.step()
        opt.zero_grad()
        return out["loss"]

    torch.set_num_threads(threads)
    median, times = time_steps(step, warmup, steps)
    return dict(benchmark="model", threads=threads, tokens_per_s=B * T / median, sec_per_step=median, times=times,
                logit_rows=counts[0], nodes=int(batch["graph/node_entity"].shape[0]),
                edges=int(batch["graph/edge_type"].shape[0]), positives=counts[1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("which", nargs="*", default=["lm", "model"], choices=["lm", "model"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    args = ap.parse_args(argv)
    env = dict(torch=torch.__version__, mkl=torch.backends.mkl.is_available(),
               mkldnn=torch.backends.mkldnn.is_available(), cpu_capability=torch.backends.cpu.get_cpu_capability())
    try:
        import transformers
        env["transformers"] = transformers.__version__
    except ImportError:
        pass
    if not args.json:
        print("PyTorch " + ", ".join(f"{k} {v}" for k, v in env.items()))
    for which in args.which:
        for n in args.threads:
            r = (bench_lm if which == "lm" else bench_model)(n, args.warmup, args.steps)
            r.update(env)
            if args.json:
                print(json.dumps(r), flush=True)
            else:
                extra = f", graph {r['nodes']} nodes {r['edges']} edges {r['positives']} positives" if which == "model" else ""
                print(f"{r['benchmark']}: {n} thread(s): {r['tokens_per_s']:.1f} tokens/s, {r['sec_per_step']:.4f} s/step "
                      f"(median of {args.steps} after {args.warmup}; fastest {min(r['times']):.4f}){extra}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
