"""The project's renderer for exercise illustrations: pose data (``app.models.illustration``) to SVG.

Pure and deterministic (the same pose data and text give the same bytes, so the content hash is an
ETag). One style for every exercise: a figure of fixed proportions drawn with round strokes, the near
limbs dark and the far limbs light, props in warm greys, the movement in orange; the frames side by side,
numbered 1 and 2 with drawn digits (no font is needed to render it).
"""

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from app.models.illustration import BASE_POSES, Frame, Illustration, Prop

# Segment lengths in units (the figure stands about 95 units tall) and stroke widths.
LENGTH = {"torso": 30.0, "head": 9.0, "arm": 15.0, "forearm": 14.0, "thigh": 24.0, "shin": 22.0, "foot": 7.5}
WIDTH = {"torso": 11.0, "arm": 5.6, "forearm": 5.0, "thigh": 7.6, "shin": 6.4, "foot": 4.4, "neck": 5.0}
HEAD_R = 6.6
SHORTENED = 0.35  # a segment pointing at the viewer keeps this much of its length
NEAR, FAR, SKIN = "#24507a", "#9bb8d3", "#24507a"
PROP, PROP_DARK, PROP_LIGHT = "#b8a58a", "#8a7760", "#e6dccb"
ARROW, PANEL, BADGE = "#e8590c", "#f3f6f9", "#24507a"
MAT_H, PANEL_MIN_H, PAD, GAP = 3.0, 64.0, 8.0, 14.0
PILLOW_H = 7.0
TOP_MARGIN = 8.0  # seen from above: the figure lies this far inside the mat
Point = tuple[float, float]


@dataclass(frozen=True)
class Posed:
    """A frame's figure: every joint in units, y up, the hip of the standing figure at (0, 0)."""

    frame: Frame
    angles: dict[str, float]
    joints: dict[str, Point]


def _along(origin: Point, angle: float, length: float) -> Point:
    radians = math.radians(angle)
    return origin[0] + length * math.cos(radians), origin[1] + length * math.sin(radians)


def pose(frame: Frame) -> Posed:
    angles: dict[str, float] = dict(BASE_POSES[frame.pose])
    angles.update((str(segment), angle) for segment, angle in frame.angles.items())

    def length(segment: str) -> float:
        base = LENGTH[segment.removesuffix("_far")]
        return base * SHORTENED if segment in frame.short else base

    joints: dict[str, Point] = {"hip": (0.0, 0.0)}
    joints["shoulder"] = _along(joints["hip"], angles["torso"], length("torso"))
    joints["head"] = _along(joints["shoulder"], angles["head"], length("head"))
    for side in ("", "_far"):
        joints[f"elbow{side}"] = _along(joints["shoulder"], angles[f"arm{side}"], length(f"arm{side}"))
        joints[f"wrist{side}"] = _along(
            joints[f"elbow{side}"], angles[f"forearm{side}"], length(f"forearm{side}")
        )
        joints[f"knee{side}"] = _along(joints["hip"], angles[f"thigh{side}"], length(f"thigh{side}"))
        joints[f"ankle{side}"] = _along(joints[f"knee{side}"], angles[f"shin{side}"], length(f"shin{side}"))
        joints[f"toe{side}"] = _along(joints[f"ankle{side}"], angles[f"foot{side}"], length(f"foot{side}"))
    return Posed(frame, angles, joints)


def _radius(joint: str) -> float:
    name = joint.removesuffix("_far")
    return {"head": HEAD_R, "hip": WIDTH["torso"] / 2, "shoulder": WIDTH["torso"] / 2}.get(
        name, WIDTH["foot"] / 2 if name in ("toe", "ankle", "wrist") else WIDTH["thigh"] / 2
    )


def _floor(props: list[Prop]) -> float:
    return MAT_H if any(prop.kind == "mat" for prop in props) else 0.0


def _placed(posed: Posed, props: list[Prop], anchor: str) -> Posed:
    """Move the figure so its lowest part rests on the floor (on the mat, or on a pillow under a joint),
    the anchor joint at x = 0 in every frame."""
    floor = TOP_MARGIN if posed.frame.view == "top" else _floor(props)
    lift: dict[str, float] = {prop.at: PILLOW_H for prop in props if prop.kind == "pillow" and prop.at}
    drop = max(floor + lift.get(joint, 0.0) - (y - _radius(joint)) for joint, (_, y) in posed.joints.items())
    across = posed.joints[anchor][0]
    return Posed(posed.frame, posed.angles, {j: (x - across, y + drop) for j, (x, y) in posed.joints.items()})


# --- drawing: every function returns SVG elements in units, y up (the panel flips it) ---------------


def _line(a: Point, b: Point, colour: str, width: float) -> str:
    return (
        f'<line x1="{a[0]:.1f}" y1="{a[1]:.1f}" x2="{b[0]:.1f}" y2="{b[1]:.1f}" stroke="{colour}" '
        f'stroke-width="{width:.1f}" stroke-linecap="round"/>'
    )


def _path(d: str, colour: str, width: float, fill: str = "none") -> str:
    return (
        f'<path d="{d}" fill="{fill}" stroke="{colour}" stroke-width="{width:.1f}" '
        'stroke-linecap="round" stroke-linejoin="round"/>'
    )


def _limb(posed: Posed, side: str, colour: str) -> list[str]:
    j = posed.joints
    return [
        _line(j["hip"], j[f"knee{side}"], colour, WIDTH["thigh"]),
        _line(j[f"knee{side}"], j[f"ankle{side}"], colour, WIDTH["shin"]),
        _line(j[f"ankle{side}"], j[f"toe{side}"], colour, WIDTH["foot"]),
    ]


def _arm(posed: Posed, side: str, colour: str) -> list[str]:
    j = posed.joints
    return [
        _line(j["shoulder"], j[f"elbow{side}"], colour, WIDTH["arm"]),
        _line(j[f"elbow{side}"], j[f"wrist{side}"], colour, WIDTH["forearm"]),
    ]


def _torso(posed: Posed) -> list[str]:
    hip, shoulder = posed.joints["hip"], posed.joints["shoulder"]
    back = math.radians(posed.angles["torso"] + 90)
    bulge = posed.frame.spine * 9.0
    middle = ((hip[0] + shoulder[0]) / 2, (hip[1] + shoulder[1]) / 2)
    control = (middle[0] + bulge * math.cos(back), middle[1] + bulge * math.sin(back))
    d = f"M{hip[0]:.1f} {hip[1]:.1f} Q{control[0]:.1f} {control[1]:.1f} {shoulder[0]:.1f} {shoulder[1]:.1f}"
    return [_path(d, NEAR, WIDTH["torso"])]


def _head(posed: Posed) -> list[str]:
    shoulder, head = posed.joints["shoulder"], posed.joints["head"]
    neck_end = _along(head, posed.angles["head"] + 180, HEAD_R * 0.6)
    parts = [_line(shoulder, neck_end, SKIN, WIDTH["neck"])]
    parts.append(f'<circle cx="{head[0]:.1f}" cy="{head[1]:.1f}" r="{HEAD_R}" fill="{SKIN}"/>')
    if posed.frame.view == "side":
        face = posed.frame.face if posed.frame.face is not None else posed.angles["head"] - 90
        tip = _along(head, face, HEAD_R + 3.4)
        left, right = _along(head, face + 42, HEAD_R - 1), _along(head, face - 42, HEAD_R - 1)
        d = f"M{left[0]:.1f} {left[1]:.1f} L{tip[0]:.1f} {tip[1]:.1f} L{right[0]:.1f} {right[1]:.1f} Z"
        parts.append(f'<path d="{d}" fill="{SKIN}"/>')
    return parts


def draw_figure(posed: Posed) -> list[str]:
    """Far arm and leg first (light; seen from the front, every limb is in sight and dark), then the body,
    then the near leg and arm (dark)."""
    far = NEAR if posed.frame.view == "front" else FAR
    return [
        *_arm(posed, "_far", far),
        *_limb(posed, "_far", far),
        *_torso(posed),
        *_head(posed),
        *_limb(posed, "", NEAR),
        *_arm(posed, "", NEAR),
    ]


def _rect(x: float, y: float, w: float, h: float, fill: str, rx: float = 1.5, stroke: str = "none") -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx}" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="1.2"/>'
    )


def _prop_back(prop: Prop, posed: Posed, span: tuple[float, float, float], floor: float) -> list[str]:
    """Props behind the figure: the surface it lies on or leans on. ``span``: the left, right and top of
    every frame's figure; ``floor``: the mat's top, or 0."""
    j = posed.joints
    x = prop.x or 0.0
    if prop.kind == "mat" and posed.frame.view == "top":
        return [_rect(span[0] - 6, 1, span[1] - span[0] + 12, span[2] + TOP_MARGIN - 1, PROP_LIGHT, 3, PROP)]
    if prop.kind == "mat":
        return [_rect(span[0] - 6, 0, span[1] - span[0] + 12, MAT_H, PROP_LIGHT, 1.2, PROP)]
    if prop.kind == "pillow" and prop.at:
        px, py = j[prop.at]
        top = max(py - _radius(prop.at) + 1.5, floor + 4)
        return [_rect(px - 11, floor, 22, top - floor, "#f1e3c6", 4, PROP)]
    if prop.kind == "wall":
        return [_rect(x - 3, 0, 6, 108, PROP_LIGHT, 0.5, PROP)]
    if prop.kind == "chair":
        return _chair(prop, posed, x)
    if prop.kind == "step" and prop.at:
        px, py = j[prop.at]
        top = py - _radius(prop.at)
        return [_rect(px - 14, 0, 30, top, PROP_LIGHT, 1, PROP)]
    if prop.kind == "path":
        return [_rect(span[0] - 40, -1.5, span[1] - span[0] + 120, 3, "#d9cdb8", 1.5)]
    if prop.kind == "tree":
        return [
            _line((x, 0), (x, 34), PROP_DARK, 4),
            f'<circle cx="{x:.1f}" cy="44" r="15" fill="#a9c9a0"/>',
            f'<circle cx="{x - 9:.1f}" cy="34" r="10" fill="#a9c9a0"/>',
        ]
    if prop.kind == "flag":
        return [
            _line((x, 0), (x, 46), PROP_DARK, 2),
            _path(f"M{x:.1f} 46 L{x + 16:.1f} 40 L{x:.1f} 34 Z", ARROW, 1, ARROW),
        ]
    return []


def _chair(prop: Prop, posed: Posed, x: float) -> list[str]:
    """A chair seen from the side: under the hip (sitting), or standing at ``x`` facing the figure."""
    if prop.at:
        hx, hy = posed.joints[prop.at]
        seat, facing, left = hy - _radius(prop.at), 1, hx - 9
    else:
        seat, facing, left = 44.0, -1, x - 12
    right = left + 24
    back_x = left if facing == 1 else right
    front_x = right if facing == 1 else left
    return [
        _line((left, seat - 1.5), (right, seat - 1.5), PROP_DARK, 3.5),
        _line((back_x, 0), (back_x, seat + 36), PROP_DARK, 3),
        _line((front_x, 0), (front_x, seat - 1.5), PROP_DARK, 3),
        _line((back_x, seat + 20), (back_x, seat + 34), PROP_DARK, 5),
    ]


def _prop_front(prop: Prop, posed: Posed) -> list[str]:
    """Props over the figure: what it holds or wears."""
    j = posed.joints
    if prop.kind in ("band", "strap") and prop.between:
        a, b = j[prop.between[0]], j[prop.between[1]]
        colour = "#c2255c" if prop.kind == "band" else PROP_DARK
        return [_line(a, b, colour, 2.2)]
    if prop.kind == "band" and prop.at:
        px, py = j[prop.at]
        return [
            f'<ellipse cx="{px:.1f}" cy="{py:.1f}" rx="3.2" ry="6" fill="none" stroke="#c2255c" '
            'stroke-width="2.4"/>'
        ]
    if prop.kind == "belt" and prop.at:
        px, py = j[prop.at]
        top = py + _radius(prop.at) + 1.2
        return [
            _path(
                f"M{px - 9:.1f} {MAT_H:.1f} L{px - 3:.1f} {top:.1f} L{px + 3:.1f} {top:.1f} "
                f"L{px + 9:.1f} {MAT_H:.1f}",
                PROP_DARK,
                2.4,
            )
        ]
    if prop.kind == "ball" and prop.at:
        px, py = j[prop.at]
        return [
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="9" fill="#ffd8a8" stroke="{PROP}" stroke-width="1.2"/>'
        ]
    return []


def _arrow(start: Point, end: Point, bend: float) -> list[str]:
    dx, dy = end[0] - start[0], end[1] - start[1]
    distance = math.hypot(dx, dy) or 1.0
    control = ((start[0] + end[0]) / 2 - dy * bend, (start[1] + end[1]) / 2 + dx * bend)
    heading = math.degrees(math.atan2(end[1] - control[1], end[0] - control[0]))
    head_len = min(6.0, distance * 0.45)
    wing_a, wing_b = _along(end, heading + 150, head_len), _along(end, heading - 150, head_len)
    d = f"M{start[0]:.1f} {start[1]:.1f} Q{control[0]:.1f} {control[1]:.1f} {end[0]:.1f} {end[1]:.1f}"
    head = f"M{wing_a[0]:.1f} {wing_a[1]:.1f} L{end[0]:.1f} {end[1]:.1f} L{wing_b[0]:.1f} {wing_b[1]:.1f}"
    return [_path(d, ARROW, 2.4), _path(head, ARROW, 2.4)]


def _arrows(illustration: Illustration, first: Posed, last: Posed) -> list[str]:
    parts: list[str] = []
    for arrow in illustration.arrows:
        sx, sy = arrow.shift
        if arrow.direction is not None:
            at = last.joints[arrow.joint]
            start = (at[0] + sx, at[1] + sy)
            parts += _arrow(start, _along(start, arrow.direction, arrow.length), 0.0)
            continue
        a, b = first.joints[arrow.joint], last.joints[arrow.joint]
        distance = math.hypot(b[0] - a[0], b[1] - a[1])
        trim = min(4.0, distance * 0.2)
        start = _along(a, math.degrees(math.atan2(b[1] - a[1], b[0] - a[0])), trim)
        end = _along(b, math.degrees(math.atan2(a[1] - b[1], a[0] - b[0])), trim)
        parts += _arrow((start[0] + sx, start[1] + sy), (end[0] + sx, end[1] + sy), arrow.bend)
    return parts


# --- the picture ---------------------------------------------------------------------------------

_DIGITS = {1: "M-1.5 -2.5 L1 -4.5 L1 4.5", 2: "M-2.5 -2.5 Q0 -6 2.5 -2.5 Q2.5 0 -2.5 4.5 L2.8 4.5"}


def _extent(posed: Posed) -> tuple[float, float, float]:
    xs = [x for x, _ in posed.joints.values()]
    top = max(y + _radius(joint) for joint, (_, y) in posed.joints.items())
    return min(xs) - HEAD_R, max(xs) + HEAD_R, top


def render_svg(illustration: Illustration, title: str, description: str, lang: str) -> str:
    """The illustration as one SVG document: frames side by side, the movement's arrow on the last."""
    posed = [_placed(pose(frame), illustration.props, illustration.anchor) for frame in illustration.frames]
    floor = _floor(illustration.props)
    extents = [_extent(one) for one in posed]
    left, right = min(e[0] for e in extents), max(e[1] for e in extents)
    top = max(e[2] for e in extents)
    for arrow in illustration.arrows:
        if arrow.direction is not None:
            start = posed[-1].joints[arrow.joint][0] + arrow.shift[0]
            reach = _along((start, 0), arrow.direction, arrow.length + 3)[0]
            left, right = min(left, start, reach), max(right, start, reach)
    for prop in illustration.props:
        if prop.x is not None:
            left, right = min(left, prop.x - 26), max(right, prop.x + 26)
        if prop.kind in ("wall", "tree", "chair"):
            top = max(top, 80.0 if prop.kind == "chair" else 62.0)
    height = max(PANEL_MIN_H, top + 2 * PAD + 10)
    width = max(right - left + 2 * PAD + 12, 128.0)
    origin = (width - (right - left)) / 2 - left
    panels = []
    span = (left, right, top)
    for index, one in enumerate(posed):
        body = [
            *(part for prop in illustration.props for part in _prop_back(prop, one, span, floor)),
            *draw_figure(one),
            *(part for prop in illustration.props for part in _prop_front(prop, one)),
        ]
        if index == len(posed) - 1:
            body += _arrows(illustration, posed[0], one)
        x0 = index * (width + GAP)
        ground = (
            "" if one.frame.view == "top" else _line((4, height - PAD), (width - 4, height - PAD), PROP, 1)
        )
        panels.append(
            f'<g transform="translate({x0:.1f} 0)">'
            f'<rect width="{width:.1f}" height="{height:.1f}" rx="6" fill="{PANEL}"/>{ground}'
            f'<g transform="translate({origin:.1f} {height - PAD:.1f}) scale(1 -1)">{"".join(body)}</g>'
            + (_badge(index + 1) if len(posed) > 1 else "")
            + "</g>"
        )
        if index < len(posed) - 1:
            cx, cy = x0 + width + GAP / 2, height / 2
            chevron = f"M{cx - 2:.1f} {cy - 5:.1f} L{cx + 2.5:.1f} {cy:.1f} L{cx - 2:.1f} {cy + 5:.1f}"
            panels.append(_path(chevron, PROP_DARK, 2))
    total = len(posed) * width + (len(posed) - 1) * GAP
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total:.1f} {height:.1f}" '
        f'width="{total * 3:.0f}" height="{height * 3:.0f}" role="img" aria-labelledby="title desc" '
        f"xml:lang={quoteattr(lang)}>"
        f'<title id="title">{escape(title)}</title><desc id="desc">{escape(description)}</desc>'
        + "".join(panels)
        + "</svg>"
    )


def _badge(number: int) -> str:
    return (
        f'<g transform="translate(11 11)"><circle r="7" fill="{BADGE}"/>'
        + _path(_DIGITS[number], "#ffffff", 1.6)
        + "</g>"
    )
