#!/usr/bin/env python3
"""Checks a `kelm-dist export --format hf` folder against Hugging Face transformers.

Run by a developer (CI does not: it has no torch):

    kelm-dist export RUN_DIR --format hf --out DIR [--vocab vocab.txt] --reference-batch
    python3 Tests/Fixtures/check_hf_export.py DIR

1. `BertForMaskedLM.from_pretrained(DIR)` loads with no missing, unexpected or mismatched keys;
   the tied decoder weight equals the word embeddings, the decoder bias `cls.predictions.bias`.
2. The logits of `DIR/kelm_reference_batch.h5` (kelm-dist's text-only model on a fixed batch,
   written by `--reference-batch`) equal transformers' within 1e-4 (max absolute difference).
3. `BertTokenizer.from_pretrained(DIR)` loads the vocabulary with vocab_size tokens.

Needs torch, transformers (5.x), h5py, numpy. Exit status 0 when every check passes.
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import torch
import transformers
from transformers import BertForMaskedLM, BertTokenizer

TOLERANCE = 1e-4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--reference", help="reference batch (default DIR/kelm_reference_batch.h5)")
    args = parser.parse_args()
    directory = args.directory
    reference = args.reference or os.path.join(directory, "kelm_reference_batch.h5")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    failures = []

    model, info = BertForMaskedLM.from_pretrained(directory, output_loading_info=True, attn_implementation="eager")
    model.eval()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        values = list(info.get(key, []))
        print(f"{key}: {values}")
        if values:
            failures.append(f"{key}: {values}")
    state = model.state_dict()
    print(f"state dict: {len(state)} tensors")
    word = state["bert.embeddings.word_embeddings.weight"]
    if not torch.equal(state["cls.predictions.decoder.weight"], word):
        failures.append("cls.predictions.decoder.weight differs from the word embeddings")
    if not torch.equal(state["cls.predictions.decoder.bias"], state["cls.predictions.bias"]):
        failures.append("cls.predictions.decoder.bias differs from cls.predictions.bias")

    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    tokenizer = BertTokenizer.from_pretrained(directory)
    print(f"tokenizer: {len(tokenizer)} tokens")
    if len(tokenizer) != config["vocab_size"]:
        failures.append(f"vocab.txt has {len(tokenizer)} tokens, config.json says {config['vocab_size']}")

    if os.path.exists(reference):
        with h5py.File(reference, "r") as f:
            ids = torch.tensor(np.asarray(f["input_ids"]), dtype=torch.long)
            mask = torch.tensor(np.asarray(f["attention_mask"]), dtype=torch.long)
            ours = np.asarray(f["logits"], dtype=np.float32)
        with torch.no_grad():
            theirs = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits.numpy()
        error = float(np.max(np.abs(theirs - ours)))
        real = mask.numpy().astype(bool)
        error_real = float(np.max(np.abs(theirs[real] - ours[real])))
        print(f"logits {list(ours.shape)}: max |kelm-dist - transformers| = {error:.3e} "
              f"(real tokens {error_real:.3e}; max |logit| {float(np.max(np.abs(theirs))):.3f})")
        if not error <= TOLERANCE:
            failures.append(f"logits differ by {error:.3e} > {TOLERANCE}")
    else:
        failures.append(f"no reference batch {reference} (export with --reference-batch)")

    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
