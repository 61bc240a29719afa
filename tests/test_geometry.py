"""Where contexts live: the circle's query angle, longitude/latitude on the sphere, and the view chosen by d."""

from __future__ import annotations

import numpy as np
import pytest

from ui import geometry


def test_lonlat_round_trip() -> None:
    v = geometry.from_lonlat(np.array([-170.0, 0.0, 45.0]), np.array([-60.0, 0.0, 80.0]))
    lon, lat = geometry.lonlat(v)
    np.testing.assert_allclose(lon, [-170, 0, 45], atol=1e-9)
    np.testing.assert_allclose(lat, [-60, 0, 80], atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 1.0)


def test_query_angle_round_trip() -> None:
    for deg in (0, 1, 90, 181, 359):
        xy = geometry.from_angle(deg)
        assert xy.dtype == np.float32 and abs(float(np.linalg.norm(xy)) - 1) < 1e-6
        assert geometry.angle_deg(xy) == deg
    assert geometry.angle_deg(np.array([1.0, -1e-3])) == 0  # -0.06 degrees rounds to 0, not 360


def test_view_for_draws_the_circle_the_sphere_or_cosines() -> None:
    assert [geometry.view_for(d) for d in (2, 3, 4, 5, 10)] == ["circle", "sphere", "cosine", "cosine", "cosine"]
    with pytest.raises(ValueError, match="d must be at least 2"):
        geometry.view_for(1)
