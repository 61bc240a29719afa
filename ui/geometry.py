"""Where the contexts live, in plain numpy: the query's angle on the circle (d = 2), longitude and latitude
on the sphere (d = 3), the grids at which decision regions are evaluated, and which view draws a task of a
given d. No Altair, no Streamlit."""

from __future__ import annotations

import numpy as np


def view_for(d: int) -> str:
    """How a context of dimension d is drawn: "circle" (d = 2), "sphere" (d = 3) or "cosine" (d > 3: each point
    by its cosines to the prototypes)."""
    if d < 2:
        raise ValueError(f"d must be at least 2 (points live on the sphere S^(d-1)), got d={d}")
    return {2: "circle", 3: "sphere"}.get(d, "cosine")


# ---------------------------------------------------------------- the circle (d = 2)


def circle_grid(count: int = 360) -> np.ndarray:
    """Query angles (radians) at which decision regions on the circle are evaluated."""
    return np.linspace(0.0, 2 * np.pi, count, endpoint=False)


def angle_deg(xy: np.ndarray) -> int:
    """The whole-degree angle (0-359) of a point on the circle: the query slider's value."""
    return int(round(float(np.degrees(np.arctan2(xy[1], xy[0]))))) % 360


def from_angle(deg: float) -> np.ndarray:
    """The point of the circle at `deg` degrees (float32, as the models take it)."""
    return np.array([np.cos(np.radians(deg)), np.sin(np.radians(deg))], np.float32)


# ---------------------------------------------------------------- the sphere (d = 3)


def lonlat(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude in degrees of unit vectors (..., 3)."""
    xyz = np.asarray(xyz, float)
    lon = np.degrees(np.arctan2(xyz[..., 1], xyz[..., 0]))
    lat = np.degrees(np.arcsin(np.clip(xyz[..., 2], -1, 1)))
    return lon, lat


def from_lonlat(lon_deg: np.ndarray | float, lat_deg: np.ndarray | float) -> np.ndarray:
    """Unit vectors (..., 3) from longitude and latitude in degrees."""
    lon, lat = np.radians(lon_deg), np.radians(lat_deg)
    return np.stack(np.broadcast_arrays(np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)), -1)


def sphere_grid(step_deg: float = 9.0) -> dict[str, np.ndarray]:
    """Cell centres of a lon/lat grid (for decision regions on the sphere): lon, lat, xyz, step. 9 degrees: 800
    cells, which the browser redraws within a frame budget when the query moves (6 degrees took ~105 ms)."""
    lon_c = np.arange(-180 + step_deg / 2, 180, step_deg)
    lat_c = np.arange(-90 + step_deg / 2, 90, step_deg)
    lon, lat = (a.ravel() for a in np.meshgrid(lon_c, lat_c))
    return {"lon": lon, "lat": lat, "xyz": from_lonlat(lon, lat), "step": np.asarray(step_deg)}


def arcs(angles_deg: np.ndarray, step: float = 1.0) -> list[tuple[float, float]]:
    """Contiguous arcs of a set of grid angles (degrees, on a grid of `step`), as (start, end) in degrees,
    joined across 0/360; longest first."""
    a = np.unique(np.mod(np.round(np.asarray(angles_deg, float) / step) * step, 360.0))
    if a.size == 0:
        return []
    if a.size * step >= 360:
        return [(0.0, 360.0 - step)]
    breaks = np.flatnonzero(np.diff(a) > step + 1e-9)
    starts, ends = np.append(a[0], a[breaks + 1]), np.append(a[breaks], a[-1])
    out = list(zip(starts.tolist(), ends.tolist()))
    if len(out) > 1 and out[0][0] <= 1e-9 and out[-1][1] >= 360 - step - 1e-9:  # wraps round 0
        out = [(out[-1][0], out[0][1] + 360.0)] + out[1:-1]
    return sorted(out, key=lambda se: se[0] - se[1])


def arc_middle(arc: tuple[float, float]) -> int:
    """The whole-degree angle (0-359) in the middle of an arc."""
    return int(round((arc[0] + arc[1]) / 2)) % 360
