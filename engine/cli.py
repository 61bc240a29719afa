"""The project's command lines: training, the figure data, the shipped fits and the report tables.

    python -m engine train --preset NAME [--steps N] [--seed S] [--out DIR] [--resume]
    python -m engine figure_data fig11|fig10 ...
    python -m engine figure_data fig11 --vary C --values 2 5 --init normal variance_scaling --out F.csv
    python -m engine fitted [--out pretrained/fits]
    python -m engine valley [--out pretrained/fits]
    python -m engine report pretrained
    python -m engine headline [--out pretrained/headline.csv]
    python -m engine context_size [--out pretrained/sweeps/context_size.csv] [--d 2 3 5 10]
    python -m engine seeds [--seeds 0 1 2 3 4] [--presets NAME ...] [--out pretrained/sweeps/seeds.csv]

Every command says which device it runs on, reports problems as one line (exit 1), never a
traceback, and keeps what it saved when interrupted (exit 130).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from engine.config import PRESETS, TrainConfig
from engine.models import INITS
from engine.runs import RunError, read_json


def _start(quiet_orbax: bool = True) -> None:
    from engine.runtime import device_summary, enable_compilation_cache

    if quiet_orbax:
        logging.getLogger("absl").setLevel(logging.ERROR)  # orbax's per-save notices would break the progress bar
    enable_compilation_cache()
    print(f"device: {device_summary()}", file=sys.stderr)


def _guard(body: Callable[[], int], interrupted: str) -> int:
    """Runs a command: one line for a known problem, exit 130 on Ctrl-C."""
    try:
        return body()
    except (RunError, ValueError, OSError) as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted: {interrupted}", file=sys.stderr)
        return 130


def _check_out(out: Path) -> None:
    """A run folder must be a folder we can create: say so in one line when it cannot be."""
    for parent in [out, *out.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise RunError(f"--out {out}: {parent} is a file, not a folder")
            break


def _constants_text(e: dict) -> str:
    """The constants an evaluation read off the weights: eq. 3's for a kernel layer, else c_sigma and c_eta."""
    if "sigma2" in e:
        return f"sigma2 {e['sigma2']:.3g} eta {e['eta']:.3g}"
    return f"c_sigma {e['c_sigma']:.3g} c_eta {e['c_eta']:.3g}"


def progress_reporter(total: int, initial: int = 0, stream=None) -> Callable[[dict], None]:
    """A tqdm bar on a terminal; in a log, a plain line at every tenth of the run (default stream: the
    sys.stderr of the call, not of the import, so a redirected stderr gets the progress)."""
    from tqdm import tqdm

    stream = sys.stderr if stream is None else stream
    if stream.isatty():
        bar = tqdm(total=total, initial=initial, file=stream, unit="step", dynamic_ncols=True)

        def show(info: dict) -> None:
            e = info["eval"]
            gap = 100 * (e["eval_loss"] - info["yardstick_loss"]) / info["yardstick_loss"]
            bar.set_postfix_str(f"eval {e['eval_loss']:.4f} gap {gap:+.2f}% {_constants_text(e)}", refresh=False)
            bar.update(info["step"] - bar.n)
            if info["step"] >= total:
                bar.close()
        return show

    shown = [initial * 10 // max(total, 1)]  # the tenth of the run last reported

    def log(info: dict) -> None:
        step, e = info["step"], info["eval"]
        tenth = step * 10 // max(total, 1)
        if tenth > shown[0] or step >= total:
            shown[0] = tenth
            gap = 100 * (e["eval_loss"] - info["yardstick_loss"]) / info["yardstick_loss"]
            print(f"step {step}/{total} eval {e['eval_loss']:.4f} gap {gap:+.2f}% {_constants_text(e)} "
                  f"elapsed {info['elapsed_s']:.0f} s", file=stream, flush=True)
    return log


def _list_presets() -> None:
    for name, c in PRESETS.items():
        print(f"{name:28s} {c.variant:30s} d={c.d:<3d} steps={c.steps:<8d} batch={c.batch:<5d} lr={c.lr:g} "
              f"{c.schedule}")


def train_config(preset: str | None, out: Path, resume: bool, steps: int | None, seed: int | None) -> TrainConfig:
    """The config a training command means: a preset's (new run), or the run's own (resume; a preset
    given with --resume must be the one the run was made with)."""
    overrides = {k: v for k, v in (("steps", steps), ("seed", seed)) if v is not None}
    if resume:
        if not (out / "config.json").is_file():
            raise RunError(f"--resume: {out} holds no run (no config.json)")
        saved = TrainConfig.from_dict(read_json(out / "config.json"))
        if preset is not None and preset != saved.preset:
            raise RunError(f"--resume: {out} was made with preset {saved.preset or '(none)'!r}, not {preset!r}")
        if "seed" in overrides and overrides["seed"] != saved.seed:
            raise RunError(f"--resume: {out} was made with seed {saved.seed}; only --steps may change")
        return dataclasses.replace(saved, **overrides)
    if preset not in PRESETS:
        raise RunError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **overrides)


def train_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine train", description="Train a one-layer attention model.")
    p.add_argument("--preset", help="preset name (--list shows them)")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("--steps", type=int, help="override the number of steps (with --resume: the new end)")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--out", help="run folder (default runs/<preset>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    args = p.parse_args(argv)
    if args.list:
        _list_presets()
        return 0
    if not args.preset and not (args.resume and args.out):
        print("give --preset NAME for a new run, or --resume --out RUN to continue one; the presets:", file=sys.stderr)
        _list_presets()
        return 2

    def body() -> int:
        from engine.train import train

        out = Path(args.out or f"runs/{args.preset}")
        _check_out(out)
        config = train_config(args.preset, out, args.resume, args.steps, args.seed)
        _start()
        start = 0
        if args.resume:
            evals = read_json(out / "history.json").get("evals", [])
            start = evals[-1]["step"] if evals else 0
        print(f"{'resuming' if args.resume else 'training'} {config.preset or out.name}: {config.variant}, "
              f"d={config.d} C={config.C} n={config.n}, {config.steps:,} steps -> {out}", file=sys.stderr)
        run = train(config, out, resume=args.resume, on_progress=progress_reporter(config.steps, start))
        print(f"{run.status}: {run.message}")
        return 0 if run.status == "finished" else 1

    return _guard(body, "the last checkpoint is kept; continue with --resume")


def figure_data_main(argv: list[str] | None = None) -> int:
    from engine import figure_data as fd

    p = argparse.ArgumentParser(prog="python -m engine figure_data", description="Sweep data for Fig. 10 and 11.")
    sub = p.add_subparsers(dest="figure", required=True)
    p11 = sub.add_parser("fig11", help="proportion of selection over seeds, varying C, d, n")
    p11.add_argument("--out", default="pretrained/sweeps/fig11.csv")
    p11.add_argument("--steps", type=int, help="steps of every run (default: by d, FIG11_STEPS)")
    p11.add_argument("--seeds", type=int, default=20)
    p11.add_argument("--batch", type=int, default=256)
    p11.add_argument("--vary", nargs="+", choices=tuple(fd.FIG11_VARY), default=list(fd.FIG11_VARY),
                     help="which groups to train (default: all three)")
    p11.add_argument("--values", nargs="+", type=int,
                     help="only these values of the one --vary group (e.g. --vary C --values 2 5)")
    p11.add_argument("--init", nargs="+", choices=tuple(INITS), default=["normal"],
                     help="the readings of the paper's 0.002 initialisation to train, each at every point (the "
                     "CSV's init column): normal, N(0, scale^2), the default; variance_scaling, std "
                     "sqrt(scale / fan_in), von Oswald et al.'s code")
    p10 = sub.add_parser("fig10", help="c_sigma, c_eta through training for d = 10 at four learning rates")
    p10.add_argument("--out", default="pretrained/sweeps/fig10.csv")
    p10.add_argument("--steps", type=int, default=fd.FIG10_STEPS, help="steps of the paper's recipe")
    p10.add_argument("--lr-scale", type=float, default=fd.FIG10_LR_SCALE,
                     help="every paper rate is multiplied by this (the run's time scale shrinks by it)")
    p10.add_argument("--batch", type=int, default=fd.FIG10_BATCH, help="batch of the paper's recipe (paper: 2048)")
    p10.add_argument("--fast-run", default="pretrained/fast-softmax-d10",
                     help="run folder of fast-softmax-d10 to read; trained here when it does not exist")
    p10.add_argument("--fast-steps", type=int, help="steps when training fast-softmax-d10 (default: the preset's)")
    args = p.parse_args(argv)

    def body() -> int:
        _start(quiet_orbax=False)
        if args.figure == "fig11":
            fd.fig11(Path(args.out), steps=args.steps, seeds=args.seeds, batch=args.batch, vary=tuple(args.vary),
                     values=args.values, inits=args.init)
        else:
            fd.fig10(Path(args.out), steps=args.steps, fast_steps=args.fast_steps, fast_run=Path(args.fast_run),
                     lr_scale=args.lr_scale, batch=args.batch)
        return 0

    return _guard(body, "nothing written")


def fitted_main(argv: list[str] | None = None) -> int:
    from engine import fitted
    from engine.tasks import TaskConfig

    p = argparse.ArgumentParser(prog="python -m engine fitted",
                                description="Fit every closed form and baseline for the shipped task settings.")
    p.add_argument("--out", default=str(fitted.shipped_dir()))
    p.add_argument("--settings", nargs="+", default=["2,5,100", "3,5,100", "5,5,100", "10,5,100", "2,2,100"],
                   help="task settings as d,C,n")
    args = p.parse_args(argv)

    def body() -> int:
        _start(quiet_orbax=False)
        tasks = [TaskConfig(*(int(v) for v in s.split(","))) for s in args.settings]
        from engine import baselines

        for path in [*fitted.ship(tasks, Path(args.out)), *baselines.ship(tasks, Path(args.out))]:
            print(path)
        return 0

    return _guard(body, "fits written so far are kept")


def valley_main(argv: list[str] | None = None) -> int:
    from engine import fitted, valley
    from engine.tasks import TaskConfig

    p = argparse.ArgumentParser(prog="python -m engine valley",
                                description="Eq. 1's d = 10 valley followed to its GD end (docs/science.md section 6).")
    p.add_argument("--out", default=str(fitted.shipped_dir()))
    p.add_argument("--setting", default="10,5,100", help="task setting as d,C,n")
    p.add_argument("--contexts", type=int, default=fitted.FIT_N, help="fit contexts (the shipped fits' key)")
    args = p.parse_args(argv)

    def body() -> int:
        _start(quiet_orbax=False)
        v = valley.compute(TaskConfig(*(int(x) for x in args.setting.split(","))), args.contexts)
        print(valley.write(v, Path(args.out)))
        for c in (v.c_sigma[0], 1e-3, v.shipped["eq1"]["c_sigma"], 1.0, v.c_sigma[-1]):
            f = v.at_c_sigma(float(c))
            print(f"c_sigma {f['c_sigma']:.3g}: eta {f['eta']:.4g}, c_eta {f['c_eta']:.4g}, loss {f['loss']:.7f} "
                  f"({f['excess']:+.2e} over GD)")
        print(f"GD (eq. 2): eta {v.gd['eta']:.4g}, loss {v.gd['loss']:.7f}")
        return 0

    return _guard(body, "nothing written")


def headline_main(argv: list[str] | None = None) -> int:
    from engine import headline

    p = argparse.ArgumentParser(prog="python -m engine headline", description="Softmax vs linear attention, the "
                                "closed forms and the baselines, by d, on held-out contexts.")
    p.add_argument("--out", default=str(headline.PRETRAINED_ROOT / "headline.csv"))
    p.add_argument("--contexts", type=int, default=4000)
    args = p.parse_args(argv)

    def body() -> int:
        _start(quiet_orbax=True)
        table = headline.rows(N=args.contexts)
        headline.write(Path(args.out), table)
        for r in table:
            print(f"d={r['d']:<3d} {r['learner']:27s} loss {r['loss']:.4f} accuracy {r['accuracy']:.3f}  "
                  f"{r['constants']}")
        print(f"wrote {args.out}")
        return 0

    return _guard(body, "nothing written")


def context_size_main(argv: list[str] | None = None) -> int:
    import time

    from engine import context_size, fitted

    p = argparse.ArgumentParser(prog="python -m engine context_size", description="The shipped layers (trained at "
                                "n = 100) at other context sizes, against their closed forms refitted and not.")
    p.add_argument("--out", default=str(context_size.default_path()))
    p.add_argument("--d", type=int, nargs="+", default=list(context_size.DIMS), help="dimensions (default: all)")
    p.add_argument("--ns", type=int, nargs="+", default=list(context_size.NS), help="context sizes, multiples of C")
    p.add_argument("--contexts", type=int, default=context_size.N_CONTEXTS, help="held-out contexts per (d, n)")
    p.add_argument("--fit-contexts", type=int, default=fitted.FIT_N, help="fit contexts per refit")
    p.add_argument("--root", default=str(context_size.PRETRAINED_ROOT), help="the folder of the fast-* runs")
    args = p.parse_args(argv)

    def body() -> int:
        _start(quiet_orbax=True)
        t0 = time.perf_counter()

        def step(line: str) -> None:
            print(f"[{time.perf_counter() - t0:6.1f} s] {line}", flush=True)

        table = context_size.table(Path(args.root), dims=args.d, ns=args.ns, N=args.contexts,
                                   fit_N=args.fit_contexts, on_step=step)
        if not table:
            raise ValueError(f"no fast-linear-d* or fast-softmax-d* runs for d = {args.d} under {args.root}")
        context_size.write(Path(args.out), table)
        for d in dict.fromkeys(r["d"] for r in table):
            print(context_size.carry_over(table, d))
        print(f"wrote {args.out} ({len(table)} rows)")
        return 0

    return _guard(body, "nothing written")


def seeds_main(argv: list[str] | None = None) -> int:
    from engine import seeds

    p = argparse.ArgumentParser(prog="python -m engine seeds", description="The headline's trained settings over "
                                "several seeds (one sweep per preset), measured on the headline's held-out contexts.")
    p.add_argument("--out", default=str(seeds.default_path()))
    p.add_argument("--seeds", type=int, nargs="+", default=list(seeds.SEEDS))
    p.add_argument("--presets", nargs="+", default=seeds.presets(), help="default: the headline's, cheapest first")
    p.add_argument("--contexts", type=int, default=4000, help="held-out contexts (the headline's)")
    args = p.parse_args(argv)

    def body() -> int:
        _start(quiet_orbax=True)
        shown: dict[str, int] = {}

        def progress(name: str, info: dict) -> None:
            if info.get("done"):
                losses = ", ".join(f"{r['loss']:.4f}" for r in info["rows"])
                print(f"{name}: {info['elapsed_s']:.0f} s, held-out loss per seed {losses}; converged "
                      f"{sum(r['converged'] for r in info['rows'])}/{len(info['rows'])}", flush=True)
                return
            tenth = info["step"] * 10 // max(info["steps"], 1)
            if tenth > shown.get(name, -1):
                shown[name] = tenth
                print(f"  {name}: step {info['step']}/{info['steps']} ({info['elapsed_s']:.0f} s)", flush=True)

        rows = seeds.run(Path(args.out), args.presets, args.seeds, args.contexts, on_progress=progress)
        for s in seeds.summary(rows):
            print(f"d={s['d']:<3d} {s['layer']:8s} {s['seeds']} seeds: loss {s['loss']:.4f} "
                  f"[{s['loss_lo']:.4f}, {s['loss_hi']:.4f}], converged {s['converged']}/{s['seeds']}")
        print(seeds.verdict(rows))
        print(f"wrote {args.out}")
        return 0

    return _guard(body, "the presets finished so far are written")


def report_main(argv: list[str] | None = None) -> int:
    from engine import report

    root = Path((argv if argv is not None else sys.argv[1:])[0] if (argv or sys.argv[1:]) else "pretrained")

    def body() -> int:
        print(report.table(root))
        print()
        print(report.table(root, examples=True))
        print()
        print(report.kernel_table(root))
        return 0

    return _guard(body, "")
