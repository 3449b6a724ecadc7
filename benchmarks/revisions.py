"""Benchmark: the whole demo pipeline, this checkout beside an earlier one, in the same run.

Runs ``tipwatch demo`` (generate, ingest, match, triage, route, signals, trends, assessment)
with this checkout's ``src`` and with a baseline checkout's ``src``, alternating, each in a fresh
process, and prints one JSON line: each stage's median seconds for both and their ratio
(current / baseline; below 1 is faster). Use it to show that a change costs nothing:

    git worktree add /tmp/tipwatch-base <commit>
    python benchmarks/revisions.py --baseline /tmp/tipwatch-base --scale 0.05 --repeat 3

With ``--script``, it runs another benchmark script of this checkout (one that prints one JSON
line) against each checkout's library instead, and prints both lines, for example:

    python benchmarks/revisions.py --baseline /tmp/tipwatch-base --script benchmarks/list_import.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def run_demo(checkout: Path, scale: float, seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(checkout / "src"), TIPWATCH_CONFIG="")
        env.pop("TIPWATCH_CONFIG")
        out = Path(tmp) / "demo-out"
        code = (
            "import sys; from tipwatch.cli import app; "
            "sys.argv = ['tipwatch', 'demo', '--out', sys.argv[1], '--scale', sys.argv[2], "
            "'--seed', sys.argv[3]]; app()"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, str(out), str(scale), str(seed)],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"demo failed in {checkout}:\n{done.stderr[-3000:]}")
        summary = json.loads((out / "summary.json").read_text())
        seconds: dict[str, float] = summary["seconds"]
        seconds["total"] = round(sum(seconds.values()), 1)
        seconds["referrals"] = summary["referrals"]
        return seconds


def run_script(checkout: Path, script: Path, extra: list[str]) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(checkout / "src"))
    done = subprocess.run(
        [sys.executable, str(script), *extra], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"{script} failed with {checkout}:\n{done.stderr[-3000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    result: dict[str, object] = json.loads(line)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="An earlier checkout.")
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--script", type=Path, help="Another benchmark script to run instead.")
    args, extra = parser.parse_known_args()
    if args.script is not None:
        for _ in range(args.repeat):
            for name, checkout in (("baseline", args.baseline), ("current", HERE)):
                out = run_script(checkout, args.script.resolve(), extra)
                print(json.dumps({"library": name, **out}))
        return
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "current": []}
    for _ in range(args.repeat):
        runs["baseline"].append(run_demo(args.baseline, args.scale, args.seed))
        runs["current"].append(run_demo(HERE, args.scale, args.seed))
    stages = [k for k in runs["current"][0] if k != "referrals"]
    result: dict[str, object] = {
        "scale": args.scale,
        "repeat": args.repeat,
        "referrals": runs["current"][0]["referrals"],
        "baseline_referrals": runs["baseline"][0]["referrals"],
    }
    for stage in stages:
        base = statistics.median(r.get(stage, 0.0) for r in runs["baseline"])
        cur = statistics.median(r.get(stage, 0.0) for r in runs["current"])
        result[stage] = {
            "baseline_s": base,
            "current_s": cur,
            "ratio": round(cur / base, 2) if base else None,
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
