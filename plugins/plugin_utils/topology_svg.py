# Copyright: podnet.hostgw contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The topology (topology_model.build) as a standalone SVG image.

Layout rules:

- Every host is one box of the same size: its name, its underlay interface
  and node IP(s), its bridge with the pod subnet(s) and gateway(s), then the
  routes it holds (topology_model.route_rows), each marked by reachability.
- ``full`` form: two hosts side by side; three or more on an ellipse, host 1
  at the top left and the others clockwise, spread just enough that no two
  boxes come closer than GAP.  Each route is an arrow from its holder to its
  peer, bent to its left so that the two directions of a pair never overlap;
  IPv6 arrows are dashed and bent further.  Arrows are drawn under the boxes.
- ``table`` and ``summary`` forms: the boxes on a grid about as wide as it is
  tall, no arrows.
- Text is monospace, so widths are computed, not measured.  Every text from
  the inventory is escaped; a host name longer than NAME_MAX is shortened on
  its box (the full name stays in the box's tooltip).
"""

import math
import re
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.podnet.hostgw.plugins.plugin_utils import topology_model as tm

FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
SIZE, NAME_SIZE, TITLE_SIZE = 12, 14, 16
CHAR = 0.602  # advance of a monospace glyph, in ems
LINE = 16
PAD = 10
MARK = 14  # the reachability mark before a route line
GAP = 110  # least distance between two boxes in the full form
GRID_GAP = 24
MARGIN = 24
NAME_MAX = 40
COLOUR = {tm.REACHED: "#2e7d32", tm.FAILED: "#c62828", tm.UNTESTED: "#9e9e9e"}
STATE_LABEL = {tm.REACHED: "reached", tm.FAILED: "failed", tm.UNTESTED: "not tested"}
INK, MUTED, FRAME = "#263238", "#607d8b", "#455a64"
HEAD_FILL, BRIDGE_FILL, BRIDGE_FRAME = "#eceff1", "#e3f2fd", "#1565c0"
BEND = {4: 16.0, 6: 34.0}  # how far an arrow's middle leaves the straight line

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def text(value):
    """VALUE as XML character data: escaped, characters XML cannot hold replaced."""
    return escape(_NOT_XML.sub("\ufffd", str(value)))


def attr(value):
    """VALUE as a quoted XML attribute value."""
    return quoteattr(_NOT_XML.sub("\ufffd", str(value)))


def width_of(chars, size=SIZE):
    return chars * CHAR * size


def short(name):
    return name if len(name) <= NAME_MAX else name[:NAME_MAX - 1] + "\u2026"


def _fam_label(v):
    return "IPv%d" % v


# ---------------------------------------------------------------------------
# one host's box


def box_content(host, form):
    """The box's sections: underlay addresses (after the interface's name),
    bridge lines, route rows."""
    underlay = [ip for _v, ip in host["addresses"]]
    bridge = ["%s gw %s" % (subnet, gw) for _v, subnet, gw in host["subnets"]]
    return underlay, bridge, tm.route_rows(host, form)


def box_size(hosts, form):
    """(width, height) that fits every host's box."""
    width, height = 0.0, 0.0
    for host in hosts:
        underlay, bridge, rows = box_content(host, form)
        width = max(width,
                    width_of(len(short(host["name"])), NAME_SIZE),
                    width_of(len(host["interface"] or "?") + 2 + max([len(s) for s in underlay] + [0])),
                    width_of(max([len(s) for s in bridge] + [len(host["bridge"])])) + 2 * 8,
                    width_of(max([len(t) for t, _state, _route in rows] + [len("routes")])) + MARK)
        height = max(height, _box_height(underlay, bridge, rows))
    return math.ceil(width + 2 * PAD), math.ceil(height)


def _box_height(underlay, bridge, rows):
    return (26 + 6 + LINE * max(len(underlay), 1) + 8 + LINE * (1 + len(bridge)) + 8 + 10
            + LINE * (1 + len(rows)) + PAD)


def draw_box(host, form, x, y, w, h):
    underlay, bridge, rows = box_content(host, form)
    out = ['<g class="host" data-host=%s>' % attr(host["name"]),
           "<title>%s</title>" % text(host["name"]),
           '<rect x="%.1f" y="%.1f" width="%d" height="%d" rx="6" fill="#ffffff" stroke="%s" stroke-width="1.5"/>'
           % (x, y, w, h, FRAME),
           '<path d="M%.1f %.1fv-20a6 6 0 0 1 6 -6h%.1fa6 6 0 0 1 6 6v20z" fill="%s"/>'
           % (x + 0.75, y + 26, w - 13.5, HEAD_FILL),
           '<text class="name" x="%.1f" y="%.1f" font-size="%d" font-weight="bold" fill="%s">%s</text>'
           % (x + PAD, y + 18, NAME_SIZE, INK, text(short(host["name"])))]
    cy = y + 26 + 6
    iface = host["interface"] or "?"
    out.append('<text x="%.1f" y="%.1f" font-weight="bold" fill="%s">%s</text>'
               % (x + PAD, cy + LINE - 4, MUTED, text(iface)))
    for line in underlay:
        cy += LINE
        out.append('<text class="underlay" x="%.1f" y="%.1f" fill="%s">%s</text>'
                   % (x + PAD + width_of(len(iface) + 2), cy - 4, INK, text(line)))
    if not underlay:
        cy += LINE
    cy += 8
    bh = LINE * (1 + len(bridge)) + 8
    out.append('<rect class="bridge" x="%.1f" y="%.1f" width="%d" height="%d" rx="4" fill="%s" stroke="%s"/>'
               % (x + PAD, cy, w - 2 * PAD, bh, BRIDGE_FILL, BRIDGE_FRAME))
    out.append('<text x="%.1f" y="%.1f" font-weight="bold" fill="%s">%s</text>'
               % (x + PAD + 8, cy + LINE, BRIDGE_FRAME, text(host["bridge"])))
    for i, line in enumerate(bridge):
        out.append('<text class="subnet" x="%.1f" y="%.1f" fill="%s">%s</text>'
                   % (x + PAD + 8, cy + LINE * (i + 2), INK, text(line)))
    cy += bh + 8 + 10
    out.append('<text x="%.1f" y="%.1f" font-size="11" fill="%s">routes</text>' % (x + PAD, cy, MUTED))
    if form == "summary":
        out += tally_bar(host["counts"], x + PAD + width_of(8), cy - 8, w - 2 * PAD - width_of(8))
    for line, state, route in rows:
        cy += LINE
        if route is None:
            out.append('<text x="%.1f" y="%.1f" fill="%s">%s</text>' % (x + PAD, cy, MUTED, text(line)))
            continue
        out.append('<g class="route-line" %s>' % _route_attrs(route)
                   + '<rect x="%.1f" y="%.1f" width="8" height="8" rx="1.5" fill="%s"/>'
                   % (x + PAD, cy - 8, COLOUR[state])
                   + '<text x="%.1f" y="%.1f" fill="%s">%s</text></g>' % (x + PAD + MARK, cy, INK, text(line)))
    out.append("</g>")
    return out


def tally_bar(counts, x, y, width):
    """A bar split by reachability, for the summary form's boxes."""
    total = sum(counts.values()) or 1
    out = ['<g class="tally">']
    for state in tm.STATES:
        part = width * counts[state] / total
        if part > 0:
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="8" fill="%s"/>' % (x, y, part, COLOUR[state]))
            x += part
    out.append("</g>")
    return out


def _route_attrs(route):
    return "data-from=%s data-to=%s data-family=\"%d\" data-state=\"%s\"" % (
        attr(route["holder"]), attr(route["peer"]), route["family"], route["state"])


# ---------------------------------------------------------------------------
# placing the boxes


def ring(count, w, h):
    """Top-left corners of COUNT boxes of W x H: side by side for two, else
    on an ellipse, host 1 at the top left, clockwise, GAP apart at least."""
    if count == 1:
        return [(0.0, 0.0)]
    if count == 2:
        return [(0.0, 0.0), (w + 1.8 * GAP, 0.0)]
    sx, sy = w + GAP, h + GAP
    unit = []
    for i in range(count):
        angle = 1.5 * math.pi - math.pi / count + 2 * math.pi * i / count
        unit.append((math.cos(angle) * sx, math.sin(angle) * sy))
    scale = 0.0
    for i in range(count):
        for j in range(i + 1, count):
            dx, dy = abs(unit[i][0] - unit[j][0]), abs(unit[i][1] - unit[j][1])
            need = min(sx / dx if dx > 1e-9 else math.inf, sy / dy if dy > 1e-9 else math.inf)
            scale = max(scale, need)
    return [(cx * scale - w / 2, cy * scale - h / 2) for cx, cy in unit]


def grid(count, w, h):
    """Top-left corners of COUNT boxes on a grid about as wide as it is tall."""
    cols = max(1, min(count, round(math.sqrt(count * (h + GRID_GAP) / (w + GRID_GAP)))))
    return [((i % cols) * (w + GRID_GAP), (i // cols) * (h + GRID_GAP)) for i in range(count)]


# ---------------------------------------------------------------------------
# arrows


def _exit(box, px, py, dx, dy, margin):
    """Where the ray from (PX, PY), inside BOX (its centre), along (DX, DY)
    leaves the box grown by MARGIN."""
    cx, cy, hw, hh = box
    t = math.inf
    if abs(dx) > 1e-9:
        t = min(t, (cx + math.copysign(hw + margin, dx) - px) / dx)
    if abs(dy) > 1e-9:
        t = min(t, (cy + math.copysign(hh + margin, dy) - py) / dy)
    return px + dx * t, py + dy * t


def arrow(route, a, b, w, h, width):
    """A route from the box at A to the box at B (top-left corners)."""
    ax, ay = a[0] + w / 2, a[1] + h / 2
    bx, by = b[0] + w / 2, b[1] + h / 2
    length = math.hypot(bx - ax, by - ay)
    dx, dy = (bx - ax) / length, (by - ay) / length
    nx, ny = dy, -dx  # the left-hand side of the way from A to B (y grows down)
    bend = BEND[route["family"]]
    lane = bend * 0.6
    # Leave and reach the boxes off-centre, on the left lane, so that the two
    # arrowheads of a pair do not meet.
    sx, sy = _exit((ax, ay, w / 2, h / 2), ax + nx * lane, ay + ny * lane, dx, dy, 4.0)
    ex, ey = _exit((bx, by, w / 2, h / 2), bx + nx * lane, by + ny * lane, -dx, -dy, 6.0)
    mx, my = (sx + ex) / 2 + nx * bend, (sy + ey) / 2 + ny * bend
    dash = ' stroke-dasharray="7 4"' if route["family"] == 6 else ""
    return ('<path class="route" %s d="M%.1f %.1fQ%.1f %.1f %.1f %.1f" fill="none" stroke="%s" '
            'stroke-width="%.1f"%s marker-end="url(#head-%s)"><title>%s: %s (%s)</title></path>'
            % (_route_attrs(route), sx, sy, mx, my, ex, ey, COLOUR[route["state"]], width, dash,
               route["state"], text(route["holder"]), text(tm.route_text(route)), STATE_LABEL[route["state"]]))


def markers():
    out = ["<defs>"]
    for state, colour in sorted(COLOUR.items()):
        out.append('<marker id="head-%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                   'markerUnits="userSpaceOnUse" orient="auto"><path d="M0 0L10 5L0 10z" fill="%s"/></marker>'
                   % (state, colour))
    out.append("</defs>")
    return out


# ---------------------------------------------------------------------------
# header and legend


def header(topo):
    n = len(topo["hosts"])
    routes = topo["route_count"]
    return ["podnet.hostgw: host-gw pod network",
            "cluster %s \u00b7 %d host%s \u00b7 %d route%s \u00b7 bridge %s" % (
                " + ".join(topo["cidrs"]) or "-", n, "" if n == 1 else "s", routes, "" if routes == 1 else "s",
                topo["bridge"])]


def legend_lines(topo):
    """[(kind, value, text)]: kind 'state' (a colour swatch), 'family' (a
    line style) or 'note'."""
    lines = [("state", s, STATE_LABEL[s] + (" by verify.yml" if s != tm.UNTESTED else " (no verify.yml result)"))
             for s in tm.STATES]
    if topo["form"] == "full":
        lines += [("family", v, "%s route" % _fam_label(v)) for v in topo["families"]]
        lines.append(("note", None, "arrow A \u2192 B: A routes B's pod subnet via B's node IP"))
    elif topo["form"] == "table":
        lines.append(("note", None, "%d hosts: each lists its routes (arrows drawn up to %d hosts)"
                      % (len(topo["hosts"]), tm.FULL_MAX_HOSTS)))
    else:
        lines.append(("note", None, "%d hosts: each counts its routes and lists the failed ones (all listed up to "
                      "%d hosts; every route: render.yml's hosts/<host>.routes)"
                      % (len(topo["hosts"]), tm.TABLE_MAX_HOSTS)))
    if topo["tested"]:
        lines.append(("note", None, "reachability: verify.yml%s" % (
            " at " + topo["results_time"] if topo["results_time"] else "")))
    else:
        lines.append(("note", None, "no reachability results yet: run playbooks/verify.yml, then render.yml"))
    return lines


def draw_legend(topo, x, y):
    out = ['<g class="legend">']
    for i, (kind, value, label) in enumerate(legend_lines(topo)):
        cy = y + i * LINE
        if kind == "state":
            out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>'
                       % (x, cy - 4, x + 28, cy - 4, COLOUR[value]))
        elif kind == "family":
            dash = ' stroke-dasharray="7 4"' if value == 6 else ""
            out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.6"%s/>'
                       % (x, cy - 4, x + 28, cy - 4, INK, dash))
        out.append('<text x="%.1f" y="%.1f" fill="%s">%s</text>'
                   % (x + (38 if kind != "note" else 0), cy, INK if kind != "note" else MUTED, text(label)))
    out.append("</g>")
    return out


def legend_size(topo):
    lines = legend_lines(topo)
    return width_of(max(len(t) + 6 for _kind, _value, t in lines)), len(lines) * LINE


# ---------------------------------------------------------------------------
# the picture


def svg(topo):
    hosts, form = topo["hosts"], topo["form"]
    w, h = box_size(hosts, form)
    corners = ring(len(hosts), w, h) if form == "full" else grid(len(hosts), w, h)
    min_x = min([c[0] for c in corners] + [0.0])
    min_y = min([c[1] for c in corners] + [0.0])
    head = header(topo)
    top = MARGIN + 2 * LINE + 16
    corners = [(x - min_x + MARGIN, y - min_y + top) for x, y in corners]
    right = max([x + w for x, _y in corners] + [MARGIN])
    bottom = max([y + h for _x, y in corners] + [top])
    lw, lh = legend_size(topo)
    width = math.ceil(max(right, MARGIN + lw, MARGIN + width_of(len(head[1])),
                          MARGIN + width_of(len(head[0]), TITLE_SIZE))
                      + MARGIN)
    height = math.ceil(bottom + 28 + lh + MARGIN)

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="%s" font-size="%d">' % (width, height, width, height, FONT, SIZE),
           "<title>%s</title>" % text(head[0])]
    out += markers()
    out.append('<rect width="100%" height="100%" fill="#ffffff"/>')
    out.append('<text x="%d" y="%d" font-size="%d" font-weight="bold" fill="%s">%s</text>'
               % (MARGIN, MARGIN + 8, TITLE_SIZE, INK, text(head[0])))
    out.append('<text x="%d" y="%d" fill="%s">%s</text>' % (MARGIN, MARGIN + 8 + LINE + 4, MUTED, text(head[1])))
    if form == "full":
        where = dict((host["name"], corners[i]) for i, host in enumerate(hosts))
        stroke = 1.8 if len(hosts) <= 4 else 1.2
        out.append('<g class="routes">')
        for route in topo["routes"]:
            out.append(arrow(route, where[route["holder"]], where[route["peer"]], w, h, stroke))
        out.append("</g>")
    out.append('<g class="hosts">')
    for host, (x, y) in zip(hosts, corners):
        out += draw_box(host, form, x, y, w, h)
    out.append("</g>")
    out += draw_legend(topo, MARGIN, bottom + 28 + LINE - 4)
    out.append("</svg>")
    return "\n".join(out) + "\n"
