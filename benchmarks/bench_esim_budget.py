"""More epochs or more models? Chapter 04's training budget, measured (issues 28 and 32).

Chapter 04 (quick profile) must run in about five minutes on a 2-core CPU, which leaves room for about a dozen
ESIM epochs. This benchmark splits one budget of epochs between models in different ways (one model trained for
all of it, or two or three models trained for a share each and averaged) and scores each on the held-out
validation pairs and on the test split, all with the training vocabulary. The chapter's own cells prepare the data
and build each model (`new_esim`), so the models are the chapter's.

    python benchmarks/bench_esim_budget.py train --seeds 0 --epochs 12 --out /tmp/budget
    python benchmarks/bench_esim_budget.py train --seeds 1,2 --epochs 6 --out /tmp/budget
    python benchmarks/bench_esim_budget.py score --options 1x12,2x6,3x4,1x8,2x4 --out /tmp/budget

`train` saves, after every epoch, the validation probabilities and the weights; `score` picks each model's epoch as
`train.fit` would (best validation accuracy, patience 3, at most the option's epochs), averages the models'
probabilities, and prints validation and test accuracy. One thread: OMP_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

import torch

CHAPTER = Path(__file__).resolve().parents[1] / "notebooks" / "04_esim_snli.ipynb"
SETUP_CELLS = ("361ea480", "ch04-01b", "a8873d50", "98cbce60", "16b9c4e9", "a7c6e259", "8de2f52e", "5e16f5ea",
               "5ed7da58")


def chapter_setup() -> dict:
    """Run the chapter's data preparation and model factory (quietly); return their namespace."""
    cells = {c.get("id"): "".join(c["source"]) for c in json.loads(CHAPTER.read_text())["cells"]}
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell_id in SETUP_CELLS:
            exec(cells[cell_id], namespace)  # noqa: S102 - the chapter's own code
    return namespace


def probabilities(g: dict, model, loader) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([torch.softmax(model(*g["train"].to_device(b, g["device"])[:-1]), -1).cpu() for b in loader])


def train(g: dict, seeds: list[int], epochs: int, out: Path) -> None:
    cfg, nn = g["cfg"], g["nn"]
    for seed in seeds:
        model = g["new_esim"](seed)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
        loader = g["make_loader"](g["train_ids"], shuffle=True, generator=torch.Generator().manual_seed(seed))
        for epoch in range(1, epochs + 1):
            start = time.time()
            row = g["train"].fit(model, loader, g["val_loader"], nn.CrossEntropyLoss(), optimizer, 1,
                                 device=g["device"], clip=cfg.clip, monitor="val_acc", progress=False, verbose=False)[0]
            torch.save({"val": probabilities(g, model, g["val_loader"]), "state": model.state_dict()},
                       out / f"probs_s{seed}_e{epoch}.pt")
            print(seed, {"epoch": epoch, "train_s": round(time.time() - start, 1), "val_acc": row["val_acc"]}, flush=True)


def score(g: dict, options: list[tuple[int, int]], out: Path, patience: int = 3) -> None:
    gold = {name: torch.tensor([y for *_, labels in g[f"{name}_loader"] for y in labels.tolist()])
            for name in ("val", "test")}
    accuracy = lambda probs, name: (probs.argmax(1) == gold[name]).float().mean().item()  # noqa: E731
    load = lambda seed, epoch: torch.load(out / f"probs_s{seed}_e{epoch}.pt")  # noqa: E731

    def kept_epoch(seed: int, cap: int) -> tuple[int, int]:
        best, kept, since = -1.0, 0, 0
        for epoch in range(1, cap + 1):
            acc = accuracy(load(seed, epoch)["val"], "val")
            best, kept, since = (acc, epoch, 0) if acc > best else (best, kept, since + 1)
            if since >= patience:
                break
        return kept, epoch

    def test_probs(seed: int, epoch: int) -> torch.Tensor:
        model = g["new_esim"](seed)
        model.load_state_dict(load(seed, epoch)["state"])
        return probabilities(g, model, g["test_loader"])

    print("models x epochs | epochs trained | kept epochs | validation: each, average | test: each, average")
    for k, cap in options:
        picks = [kept_epoch(seed, cap) for seed in range(k)]
        vals = [load(seed, e)["val"] for seed, (e, _) in enumerate(picks)]
        tests = [test_probs(seed, e) for seed, (e, _) in enumerate(picks)]
        print(f"{k} x {cap:2d} | {sum(n for _, n in picks):2d} | {[e for e, _ in picks]} | "
              f"{[round(accuracy(v, 'val'), 3) for v in vals]}, {accuracy(sum(vals), 'val'):.3f} | "
              f"{[round(accuracy(t, 'test'), 4) for t in tests]}, {accuracy(sum(tests), 'test'):.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["train", "score"])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--options", default="1x12,2x6,3x4")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    g = chapter_setup()
    if args.phase == "train":
        train(g, [int(s) for s in args.seeds.split(",")], args.epochs, args.out)
    else:
        score(g, [tuple(int(x) for x in o.split("x")) for o in args.options.split(",")], args.out)


if __name__ == "__main__":
    main()
