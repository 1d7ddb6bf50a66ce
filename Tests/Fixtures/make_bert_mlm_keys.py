#!/usr/bin/env python3
"""Writes Tests/Fixtures/bert_mlm_keys_tiny.json: the state-dict keys and shapes of
`transformers.BertForMaskedLM` for the architecture of configs/tiny.yaml, and its tied weights.

kelm-distTests (ExportCommandTests) checks `kelm-dist export --format hf` against this list, so
CI needs no torch. Regenerate after a transformers upgrade:

    python3 Tests/Fixtures/make_bert_mlm_keys.py
"""
import json
import os

import torch
import transformers
from transformers import BertConfig, BertForMaskedLM

TINY = dict(vocab_size=512, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
            max_position_embeddings=64, type_vocab_size=2, pad_token_id=0, layer_norm_eps=1e-12)


def main() -> None:
    model = BertForMaskedLM(BertConfig(**TINY))
    state = model.state_dict()
    tied = getattr(model, "_tied_weights_keys", None) or {}
    out = {
        "generator": f"Tests/Fixtures/make_bert_mlm_keys.py, transformers {transformers.__version__}, torch {torch.__version__}",
        "config": TINY,
        "keys": [{"name": name, "shape": list(t.shape)} for name, t in sorted(state.items())],
        "tied": dict(sorted(tied.items())) if isinstance(tied, dict) else {},
        "buffers_not_in_state_dict": sorted(n for n, _ in model.named_buffers() if n not in state),
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bert_mlm_keys_tiny.json")
    # one line per key
    text = json.dumps({k: v for k, v in out.items() if k != "keys"}, indent=1)[:-2] + ',\n "keys": [\n  ' + \
        ",\n  ".join(json.dumps(k) for k in out["keys"]) + "\n ]\n}\n"
    json.loads(text)
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}: {len(out['keys'])} keys")


if __name__ == "__main__":
    main()
