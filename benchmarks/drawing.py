"""The picture of the rate-limits page: UID weight sent per sliding window, against the budget."""

from __future__ import annotations

from .scenarios import Row


def svg(rows: list[Row], window: float, budget: int, path: str) -> None:
    """UID weight sent in the trailing window (429s included), against the budget line."""
    width, height, pad = 720, 300, 40
    series = [r for r in rows if "3 accounts" not in r.name and "cap off" not in r.name]
    end = max(r.arrivals[-1][0] - r.arrivals[0][0] for r in series if r.arrivals)
    top = max(budget * 2.1, *(r.worst_uid for r in series))
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]

    def x(t: float) -> float:
        return pad + (width - 2 * pad) * t / end

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * v / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11"><rect width="100%" height="100%" '
        f'fill="white"/>',
        f'<line x1="{pad}" y1="{y(budget):.1f}" x2="{width - pad}" y2="{y(budget):.1f}" '
        f'stroke="black" stroke-dasharray="6 3"/>',
        f'<text x="{width - pad - 150}" y="{y(budget) - 5:.1f}">budget {budget} per '
        f"{window:g} s</text>",
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#888"/>',
        f'<text x="{width / 2 - 60}" y="{height - 10}">seconds since the first arrival</text>',
    ]
    for index, row in enumerate(series):
        t0 = row.arrivals[0][0]
        points, window_items, total, start = [], row.arrivals, 0, 0
        for at, w in window_items:
            total += w
            while window_items[start][0] + window <= at:
                total -= window_items[start][1]
                start += 1
            points.append(f"{x(at - t0):.1f},{y(total):.1f}")
        colour = colours[index % len(colours)]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
            f'points="{" ".join(points)}"/>'
        )
        parts.append(
            f'<text x="{pad + 10}" y="{pad + 14 * index}" fill="{colour}">{row.name}: '
            f"worst window sent {row.worst_uid_sent} ({row.worst_uid_sent / budget:.0%}), "
            f"{row.rate_limited} x 429</text>"
        )
    parts.append("</svg>")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts) + "\n")
