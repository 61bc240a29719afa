"""Eq. 1's d = 10 valley followed to its end (docs/science.md section 6).

The shipped eq. 1 fit at d = 10 finds its best c_eta on the grid's top edge for every small c_sigma: the valley
runs out of the grid. Along it c_sigma c_eta / sqrt(D) stays near GD's rate, and as c_sigma -> 0 with
eta = c_sigma c_eta / sqrt(D) held, eq. 1 becomes GD (eq. 2) with rate eta. So the valley is charted in its own
coordinates, c_sigma and eta, where it lies flat and finite; for each c_sigma the floor is the exact minimum over
eta (the loss is convex in it), and GD fitted on the same contexts is its end.

Computed in float64: far down the valley the label sums differ between classes by c_sigma times a few hundredths,
below float32's resolution of the sums themselves. Stored as JSON beside a `.npy` of the loss grid, like the fits.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from engine import closed_form as cf
from engine import fit, fitted, metrics
from engine.runs import read_json, write_atomic, write_json
from engine.tasks import TaskConfig, sample_contexts

TASK = TaskConfig(10, 5, 100)  # the setting whose eq. 1 optimum runs off its grid
C_SIGMA = (-5.0, 1.0)  # log10 range: from far beyond the shipped grid's low end (10^-3) to its top
ETA = (1.0, 3.0)  # log10 range of c_sigma c_eta / sqrt(D), around GD's fitted rate
C_SIGMA_PER_DECADE = 20
ETA_PER_DECADE = 40
PAPER_C_ETA = 8000.0  # the paper's reported "optimal c_eta" at d = 10 (its grid's best, Section 6)
# The valley's slope at its end is checked on further draws of contexts, so that which end wins is a fact of the
# task and not of one draw: their key (nothing else draws from it), how many, how large, and the small c_sigma at
# which the slope is read (the second-order term is ~1e-4 of the first there; float64 keeps 1e-5 of the difference).
SLOPE_SEED = 20_251_206
SLOPE_DRAWS = 4
SLOPE_N = 25_000
SLOPE_C_SIGMA = 1e-4


@dataclasses.dataclass(frozen=True)
class Valley:
    """Eq. 1's loss along its valley, its floor, and where it ends (GD)."""

    d: int
    C: int
    n: int
    N: int
    c_sigma: np.ndarray  # (W,) log-spaced
    eta: np.ndarray  # (E,) log-spaced c_sigma c_eta / sqrt(D)
    losses: np.ndarray  # (W, E) mean cross-entropy
    floor_eta: np.ndarray  # (W,) the best eta at each c_sigma (exact, not a grid value)
    floor_loss: np.ndarray  # (W,) the loss there
    gd: dict  # GD (eq. 2) fitted on the same contexts: {'eta', 'loss'}, the valley's end
    shipped: dict  # the shipped fits of this setting and how they read on these contexts (`_shipped`)
    end_slope: list  # d loss / d c_sigma at the end, on these contexts and further draws (`_slope_row`)
    paper_c_eta: float = PAPER_C_ETA  # the paper's reported optimum, to place on the floor

    @property
    def task(self) -> TaskConfig:
        return TaskConfig(self.d, self.C, self.n)

    @property
    def floor_c_eta(self) -> np.ndarray:
        """c_eta along the floor: eta sqrt(D) / c_sigma, which runs off to infinity as c_sigma -> 0."""
        return self.floor_eta * math.sqrt(self.task.D) / self.c_sigma

    @property
    def excess(self) -> np.ndarray:
        """The floor's loss above GD's: how far eq. 1 at each c_sigma is from its limit."""
        return self.floor_loss - self.gd["loss"]

    def at_c_eta(self, c_eta: float) -> dict:
        """Where the floor has this c_eta (log-interpolated; c_eta falls as c_sigma grows): c_sigma, eta, loss,
        excess. The paper's grid stopped at c_eta = 10^4 and reported 8,000: this says where that is on the floor."""
        order = np.argsort(self.floor_c_eta)
        lc = np.log(self.floor_c_eta[order])
        x = float(np.log(c_eta))
        if not lc[0] <= x <= lc[-1]:
            raise ValueError(f"c_eta {c_eta:g} is off this valley's floor ({math.exp(lc[0]):.3g} to "
                             f"{math.exp(lc[-1]):.3g})")
        c_sigma = float(np.exp(np.interp(x, lc, np.log(self.c_sigma[order]))))
        return self.at_c_sigma(c_sigma) | {"c_eta": float(c_eta)}

    def at_c_sigma(self, c_sigma: float) -> dict:
        """The floor at `c_sigma` (log-interpolated): c_sigma, eta, c_eta, loss and excess over GD."""
        x = np.log(c_sigma)
        lcs = np.log(self.c_sigma)
        eta = float(np.exp(np.interp(x, lcs, np.log(self.floor_eta))))
        loss = float(np.interp(x, lcs, self.floor_loss))
        return {"c_sigma": float(c_sigma), "eta": eta, "c_eta": eta * math.sqrt(self.task.D) / c_sigma,
                "loss": loss, "excess": loss - self.gd["loss"]}

    def summary(self) -> str:
        """The valley's story in its own numbers, shown by the Landscapes page and the talk: the loss keeps falling
        along the floor past where the fitting grid stopped, down to GD."""
        ce_hi = self.shipped["c_eta_range"][1]
        edge, paper = self.at_c_eta(ce_hi), self.at_c_eta(self.paper_c_eta)
        lo, hi = self.at_c_sigma(float(self.c_sigma[0])), self.at_c_sigma(1.0)
        eq1, gd = self.shipped["eq1"], self.shipped["gd"]
        below = self.shipped["top_edge_below"]
        parts = [
            "Along the valley's floor (for each c_sigma, eta = c_sigma c_eta / sqrt(D) at its best) eq. 1's loss keeps",
            f"falling as c_sigma shrinks: {hi['excess']:.1e} above GD's (eq. 2) at c_sigma 1,",
            f"{paper['excess']:.1e} at the paper's c_eta ~ {self.paper_c_eta:,.0f} (c_sigma {paper['c_sigma']:.2g}),",
            f"{edge['excess']:.1e} where the fitting grid's c_eta stops at {ce_hi:,.0f}",
            f"(c_sigma {edge['c_sigma']:.2g}),",
            f"and {lo['excess']:.1e} at c_sigma {lo['c_sigma']:.0e} (c_eta {lo['c_eta']:.1e}): in proportion to",
            f"c_sigma near its end (about {lo['excess'] / lo['c_sigma']:.1e} c_sigma).",
            f"It ends at GD with eta {self.gd['eta']:.4g} (loss {self.gd['loss']:.5f}): there eq. 1",
            f"becomes GD. So the paper's \"optimal c_eta ~ {self.paper_c_eta:,.0f}\" is where its grid stopped, not an",
            "optimum" + (f" (the shipped grid's best c_eta is its top value for every c_sigma up to {below:.2g})."
                         if below else "."),
            self.slope_text(),
            f"On these {self.N:,} contexts; the shipped fits, on another draw of {gd['N']:,}, put GD at eta",
            f"{gd['eta']:.4g} (loss {gd['loss']:.5f}) and eq. 1 at {eq1['loss']:.5f}, and here their constants score",
            f"{eq1['loss_here'] - gd['loss_here']:+.1e} (eq. 1 minus GD).",
        ]
        return " ".join(parts)

    def pooled_slope(self) -> dict | None:
        """The end's slope over the further draws together (mean of their means, its standard error), or None when
        the valley was computed without them."""
        rows = [r for r in self.end_slope if r["draw"] != "fit contexts"]
        if not rows:
            return None
        return {"N": sum(r["N"] for r in rows), "draws": len(rows), "mean": float(np.mean([r["mean"] for r in rows])),
                "se": math.sqrt(sum(r["se"] ** 2 for r in rows)) / len(rows)}

    def slope_text(self) -> str:
        """Which end of the valley is lower, and how sure: the slope d loss / d c_sigma at the GD end."""
        own = next(r for r in self.end_slope if r["draw"] == "fit contexts")
        text = f"The slope at that end, d loss / d c_sigma, is {own['mean']:.1e} +- {own['se']:.1e} (s.e.) here"
        pooled = self.pooled_slope()
        if pooled:
            text += (f" and {pooled['mean']:.1e} +- {pooled['se']:.1e} over {pooled['draws']} further draws "
                     f"({pooled['N']:,} contexts)")
        sure = (pooled or own)["mean"] > 3 * (pooled or own)["se"]
        return text + (": GD's end is the lower one in the task, not only on this draw." if sure else
                       ": not clearly above zero, so which end is lower is not settled by these contexts.")

    def to_json(self) -> dict:
        return {"d": self.d, "C": self.C, "n": self.n, "N": self.N, "seed": fitted.FIT_SEED,
                "c_sigma": self.c_sigma.tolist(), "eta": self.eta.tolist(), "floor_eta": self.floor_eta.tolist(),
                "floor_loss": self.floor_loss.tolist(), "gd": self.gd, "shipped": self.shipped,
                "end_slope": self.end_slope,
                "paper_c_eta": self.paper_c_eta}


def axes() -> tuple[np.ndarray, np.ndarray]:
    """The valley grid: c_sigma and eta = c_sigma c_eta / sqrt(D), log-spaced."""
    w = round((C_SIGMA[1] - C_SIGMA[0]) * C_SIGMA_PER_DECADE) + 1
    e = round((ETA[1] - ETA[0]) * ETA_PER_DECADE) + 1
    return np.logspace(*C_SIGMA, w), np.logspace(*ETA, e)


def top_edge_below(f: fitted.Fitted) -> float | None:
    """The largest c_sigma of a fitted eq. 1 grid up to which every row's best c_eta is the grid's top value: the
    stretch where the grid cut the valley off. None when the smallest c_sigma's row already has an inner best."""
    at_top = np.argmin(np.where(np.isfinite(f.losses), f.losses, np.inf), 1) == len(f.axes["c_eta"]) - 1
    if not at_top[0]:
        return None
    k = int(np.argmin(at_top)) if not at_top.all() else len(at_top)
    return float(f.axes["c_sigma"][k - 1])


def _shipped(task: TaskConfig, ctx) -> dict:
    """The shipped eq. 1 and GD fits of `task` (their own contexts) and their constants' losses on `ctx`: the
    grid's ranges, its refined point, where its rows' best c_eta sat on the top edge."""
    eq1, gd = fitted.fitted("adaptive", task), fitted.fitted("gd", task)
    return {
        "c_sigma_range": [float(eq1.axes["c_sigma"][0]), float(eq1.axes["c_sigma"][-1])],
        "c_eta_range": [float(eq1.axes["c_eta"][0]), float(eq1.axes["c_eta"][-1])],
        "eq1": {**eq1.refined, "loss": eq1.refined_loss, "grid_best": eq1.best, "N": eq1.N,
                "loss_here": fit.mean_loss(ctx, "adaptive", eq1.refined)},
        "top_edge_below": top_edge_below(eq1),
        "gd": {**gd.refined, "loss": gd.refined_loss, "N": gd.N, "loss_here": fit.mean_loss(ctx, "gd", gd.refined)},
    }


def end_slope(ctx, eta: float, c_sigma: float = SLOPE_C_SIGMA) -> np.ndarray:
    """Per context, d loss / d c_sigma where the valley ends (c_sigma -> 0 with eta held): eq. 1's cross-entropy at
    a small c_sigma less GD's at the same eta, over c_sigma. Its mean is the floor's slope there (eta's own move is
    second order), and its spread gives the slope's standard error: which end of the valley is lower. Float64
    contexts (the two cross-entropies agree to ~1e-5)."""
    D = ctx.xs.shape[-1] + ctx.protos.shape[1]

    def ce(logits):
        return -jnp.take_along_axis(jax.nn.log_softmax(logits, -1), ctx.yq[:, None], 1)[:, 0]

    eq1 = cf.adaptive_logits(ctx, eta * math.sqrt(D) / c_sigma, c_sigma)
    return np.asarray((ce(eq1) - ce(cf.gd_logits(ctx, eta))) / c_sigma, np.float64)


def _slope_row(ctx, draw: str) -> dict:
    """GD fitted on `ctx` (the valley's end) and the slope there, mean and standard error."""
    gd = fit.fit(ctx, "gd", fit.default_grid("gd", int(ctx.xs.shape[-1])))
    g = end_slope(ctx, gd.refined["eta"])
    return {"draw": draw, "N": int(g.size), "gd_eta": float(gd.refined["eta"]), "gd_loss": float(gd.refined_loss),
            "mean": float(g.mean()), "se": float(g.std(ddof=1) / math.sqrt(g.size))}


def compute(task: TaskConfig = TASK, N: int = fitted.FIT_N, draws: int = SLOPE_DRAWS,
            draw_N: int = SLOPE_N) -> Valley:
    """The valley of `task` on its fit contexts (`fitted.fit_contexts`, the shipped fits' key), in float64, and its
    end's slope there and on `draws` further draws of `draw_N` contexts."""
    c_sigma, eta = axes()
    ctx32 = fitted.fit_contexts(task, N)
    with jax.enable_x64(True):
        ctx = fit.group_by_class(metrics.to_float64(ctx32))[0]
        losses = fit.rate_grid_losses(ctx, "adaptive", c_sigma, eta)
        start = eta[np.argmin(np.where(np.isfinite(losses), losses, np.inf), 1)]
        floor_eta, floor_loss = fit.rate_floor(ctx, "adaptive", c_sigma, start)
        slopes = [_slope_row(ctx, "fit contexts")]
        gd = {"eta": slopes[0]["gd_eta"], "loss": slopes[0]["gd_loss"]}
        shipped = _shipped(task, ctx)
        for k in range(draws):
            key = jax.random.fold_in(jax.random.key(SLOPE_SEED), k)
            slopes.append(_slope_row(metrics.to_float64(sample_contexts(key, task, int(draw_N))), f"draw {k}"))
    v = Valley(task.d, task.C, task.n, int(N), c_sigma, eta, np.asarray(losses, np.float32), floor_eta, floor_loss,
               gd, shipped, slopes)
    for c_eta in (shipped["c_eta_range"][1], v.paper_c_eta):
        v.at_c_eta(c_eta)  # the story needs the floor to cross both: a setting where it does not is refused here
    return v


def _stem(task: TaskConfig, N: int) -> str:
    return f"valley-d{task.d}-C{task.C}-n{task.n}-N{N}"


def write(v: Valley, folder: Path | None = None) -> Path:
    """Store `v` (the grid as float32 `.npy`, the rest as JSON, written last: its presence says the entry is
    whole). Returns the JSON's path."""
    folder = fitted.shipped_dir() if folder is None else Path(folder)
    stem = _stem(v.task, v.N)
    write_atomic(folder / f"{stem}.npy", lambda fh: np.save(fh, v.losses.astype(np.float32), allow_pickle=False),
                 binary=True)
    write_json(folder / f"{stem}.json", v.to_json())
    return folder / f"{stem}.json"


def stored(task: TaskConfig = TASK, N: int = fitted.FIT_N, folder: Path | None = None) -> Valley | None:
    """The shipped valley of `task`, or None where `python -m engine valley` has not made one (it takes about a
    minute: no page computes it)."""
    folder = fitted.shipped_dir() if folder is None else Path(folder)
    stem = _stem(task, int(N))
    meta, grid = folder / f"{stem}.json", folder / f"{stem}.npy"
    if not (meta.is_file() and grid.is_file()):
        return None
    m = read_json(meta)
    return Valley(m["d"], m["C"], m["n"], m["N"], np.asarray(m["c_sigma"]), np.asarray(m["eta"]),
                  np.load(grid, allow_pickle=False), np.asarray(m["floor_eta"]), np.asarray(m["floor_loss"]),
                  m["gd"], m["shipped"], m["end_slope"], m["paper_c_eta"])
