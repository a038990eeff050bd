"""Data-parallel training under torchrun with 2 processes (gloo on CPU)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch

SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    from netslim.data import load_digits
    from netslim.models import build_model
    from netslim.train import TrainConfig, evaluate, train_

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    data = load_digits()
    model = build_model("seed_mlp", data.input_shape)
    optimizer = sys.argv[2]
    epochs = 30 if optimizer == "gd" else 4
    record = train_(model, data, TrainConfig(epochs=epochs, optimizer=optimizer, lr=0.5 if optimizer == "gd" else 3e-3,
                                             batch_size=32, restore_best=False))
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, f"{sys.argv[1]}/rank{rank}.pt")
    if rank == 0:
        print("accuracy", evaluate(model, data.test).accuracy, "steps", record.steps)
    dist.destroy_process_group()
    """
)


def run_torchrun(tmp_path, optimizer: str) -> str:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            str(script),
            str(tmp_path),
            optimizer,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_two_process_ddp_keeps_ranks_identical_and_learns(tmp_path) -> None:
    out = run_torchrun(tmp_path, "adam")
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    accuracy = float(out.split("accuracy")[1].split()[0])
    assert accuracy > 0.85
    steps = int(out.split("steps")[1].split()[0])
    assert steps == 4 * -(-1257 // 64)  # global batch = 32 per process x 2 processes


def test_two_process_full_batch_gd_matches_one_process(tmp_path) -> None:
    run_torchrun(tmp_path, "gd")
    from netslim.data import load_digits
    from netslim.models import build_model
    from netslim.train import TrainConfig, train_

    torch.manual_seed(0)
    data = load_digits()
    single = build_model("seed_mlp", data.input_shape)
    train_(single, data, TrainConfig(epochs=30, optimizer="gd", lr=0.5, batch_size=32, restore_best=False))
    ddp = torch.load(tmp_path / "rank0.pt", weights_only=True)
    for key, value in single.state_dict().items():
        torch.testing.assert_close(ddp[key], value, rtol=1e-4, atol=1e-5)
