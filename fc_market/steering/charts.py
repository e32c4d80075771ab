"""Small inline SVG charts (no JavaScript, no style attributes: CSP-safe).

Every text is escaped; the charts scale to their container (viewBox) and carry a <title>
per mark for hover text and a <desc> summarising the data for screen readers.
"""
import hashlib
from xml.sax.saxutils import escape

W, H = 640.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 52.0, 12.0, 16.0, 34.0
BLUE, GREY, RED, GREEN, ORANGE = "#000091", "#8a8f98", "#c9191e", "#18753c", "#b34000"
PALETTE = (BLUE, ORANGE, GREEN, RED, "#6a6af4", "#3a3a3a")
FONT = 'font-family="Marianne, Arial, sans-serif" font-size="11"'


def _f(v):
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _nice_max(value):
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return float(top)
    return float(10 * magnitude)


def _frame(title, y_max, y_fmt, n_labels, labels, desc):
    ident = "chart-" + hashlib.sha1(f"{title}|{desc}".encode()).hexdigest()[:10]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(W)} {_f(H)}" role="img" '
           f'class="chart" aria-labelledby="{ident}-title {ident}-desc" {FONT}>',
           f'<title id="{ident}-title">{escape(title)}</title>',
           f'<desc id="{ident}-desc">{escape(desc)}</desc>']
    plot_h = H - TOP - BOTTOM
    for i in range(5):
        value = y_max * i / 4
        y = TOP + plot_h * (1 - i / 4)
        out.append(f'<line x1="{_f(LEFT)}" x2="{_f(W - RIGHT)}" y1="{_f(y)}" y2="{_f(y)}" '
                   f'stroke="#ddd" stroke-width="1"/>')
        out.append(f'<text x="{_f(LEFT - 6)}" y="{_f(y + 4)}" text-anchor="end" fill="#555">'
                   f"{escape(y_fmt(value))}</text>")
    step = max(1, -(-len(labels) // 12))
    slot = (W - LEFT - RIGHT) / max(n_labels, 1)
    for i, label in enumerate(labels):
        if i % step == 0:
            x = LEFT + slot * (i + 0.5)
            out.append(f'<text x="{_f(x)}" y="{_f(H - BOTTOM + 16)}" text-anchor="middle" '
                       f'fill="#555">{escape(label)}</text>')
    return out, plot_h, slot


def bars_and_line(labels, bars, line=None, *, title, bar_label, line_label, y_fmt=None):
    """Bars (e.g. monthly entries) with a line (e.g. the monthly target)."""
    y_fmt = y_fmt or (lambda v: f"{v:,.0f}".replace(",", "\u202f"))
    values = [b or 0 for b in bars] + [v or 0 for v in (line or [])]
    y_max = _nice_max(max(values, default=0))
    desc = "; ".join(f"{l} : {y_fmt(b or 0)}" + (f" / {y_fmt(line[i])}" if line and line[i] is not None else "")
                     for i, (l, b) in enumerate(zip(labels, bars)))
    out, plot_h, slot = _frame(title, y_max, y_fmt, len(labels), labels, desc)
    base = TOP + plot_h
    for i, b in enumerate(bars):
        if b is None:
            continue
        h = plot_h * (b / y_max)
        x = LEFT + slot * i + slot * 0.15
        out.append(f'<rect x="{_f(x)}" y="{_f(base - h)}" width="{_f(slot * 0.7)}" height="{_f(h)}" '
                   f'fill="{BLUE}"><title>{escape(labels[i])} — {escape(bar_label)} : '
                   f"{escape(y_fmt(b))}</title></rect>")
    if line:
        pts = [(LEFT + slot * (i + 0.5), base - plot_h * (v / y_max)) for i, v in enumerate(line)
               if v is not None]
        out.append(f'<polyline points="{" ".join(f"{_f(x)},{_f(y)}" for x, y in pts)}" fill="none" '
                   f'stroke="{RED}" stroke-width="2" stroke-dasharray="6 3"/>')
    out += _legend([(bar_label, BLUE, "bar")] + ([(line_label, RED, "dash")] if line else []))
    out.append("</svg>")
    return "".join(out)


def lines(labels, series, *, title, y_fmt=None, y_max=None, threshold=None):
    """Several lines over the same months: ``series`` = [(label, values)] (None = gap)."""
    y_fmt = y_fmt or (lambda v: f"{v:.0%}".replace("%", "\u00a0%"))
    values = [v for _, vs in series for v in vs if v is not None]
    if threshold is not None:
        values.append(threshold)
    y_max = y_max or _nice_max(max(values, default=0))
    desc = "; ".join(f"{name} : " + ", ".join(f"{l} {y_fmt(v)}" for l, v in zip(labels, vs) if v is not None)
                     for name, vs in series)
    out, plot_h, slot = _frame(title, y_max, y_fmt, len(labels), labels, desc)
    base = TOP + plot_h
    if threshold is not None:
        y = base - plot_h * min(threshold / y_max, 1)
        out.append(f'<line x1="{_f(LEFT)}" x2="{_f(W - RIGHT)}" y1="{_f(y)}" y2="{_f(y)}" '
                   f'stroke="{RED}" stroke-width="1" stroke-dasharray="4 3"/>')
    legend = []
    for k, (name, vs) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        segment = []
        for i, v in enumerate(list(vs) + [None]):
            if v is None:
                if len(segment) > 1:
                    out.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{color}" '
                               f'stroke-width="2"/>')
                segment = []
                continue
            x, y = LEFT + slot * (i + 0.5), base - plot_h * min(v / y_max, 1)
            segment.append(f"{_f(x)},{_f(y)}")
            out.append(f'<circle cx="{_f(x)}" cy="{_f(y)}" r="2.5" fill="{color}"><title>'
                       f"{escape(name)} — {escape(labels[i])} : {escape(y_fmt(v))}</title></circle>")
        legend.append((name, color, "line"))
    if threshold is not None:
        legend.append(("Seuil", RED, "dash"))
    out += _legend(legend)
    out.append("</svg>")
    return "".join(out)


def sparkline(values, *, title, width=120.0, height=28.0):
    pts = [float(v) for v in values if v is not None]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} {_f(height)}" '
           f'class="spark" role="img"><title>{escape(title)}</title>']
    if len(pts) >= 2:
        lo, hi = min(pts), max(pts)
        span = (hi - lo) or 1.0
        step = (width - 4) / (len(pts) - 1)
        coords = " ".join(f"{_f(2 + i * step)},{_f(height - 3 - (v - lo) / span * (height - 6))}"
                          for i, v in enumerate(pts))
        out.append(f'<polyline points="{coords}" fill="none" stroke="{BLUE}" stroke-width="1.5"/>')
    out.append("</svg>")
    return "".join(out)


def _legend(items):
    out, x = [], LEFT
    for label, color, shape in items:
        y = 8
        if shape == "bar":
            out.append(f'<rect x="{_f(x)}" y="{_f(y - 6)}" width="10" height="8" fill="{color}"/>')
        else:
            dash = ' stroke-dasharray="4 2"' if shape == "dash" else ""
            out.append(f'<line x1="{_f(x)}" x2="{_f(x + 14)}" y1="{_f(y - 2)}" y2="{_f(y - 2)}" '
                       f'stroke="{color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{_f(x + 18)}" y="{_f(y + 2)}" fill="#222">{escape(label)}</text>')
        x += 26 + 6.2 * len(label)
    return out
