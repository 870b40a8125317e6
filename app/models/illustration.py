"""Pose data of an exercise's illustration: what ``app.services.figure`` draws.

Kept with each exercise (``illustration:`` in ``exercises/<chain>.yaml``, or sent with a clinic's own
exercise). A figure is seen from the side, facing right, and is built from segments of fixed lengths, so
every drawing has the same proportions; a frame names a base pose (``BASE_POSES``) and overrides the
angles that differ. An angle is the direction a segment points, in degrees: 0 = right, 90 = up, 180 =
left, -90 = down. The limbs on the far side of the body are drawn lighter (``*_far``).

Lying on the back the head is on the left; face down, on the right (the figure always faces right).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

StrictModel = ConfigDict(extra="forbid", strict=True, frozen=True)

Segment = Literal[
    "torso", "head",
    "arm", "forearm", "thigh", "shin", "foot",
    "arm_far", "forearm_far", "thigh_far", "shin_far", "foot_far",
]  # fmt: skip
# Where a segment ends: the points props and arrows are placed at.
Joint = Literal[
    "hip", "shoulder", "head", "elbow", "wrist", "knee", "ankle", "toe",
    "elbow_far", "wrist_far", "knee_far", "ankle_far", "toe_far",
]  # fmt: skip
PropKind = Literal[
    "mat", "pillow", "wall", "chair", "band", "ball", "strap", "belt", "step", "path", "tree", "flag"
]
Angle = Annotated[float, Field(ge=-360, le=360)]
AltText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]

# Each base pose gives every segment's angle; a frame overrides some of them.
_STAND: dict[str, float] = {
    "torso": 90, "head": 90,
    "arm": -96, "forearm": -92, "arm_far": -84, "forearm_far": -80,
    "thigh": -90, "shin": -90, "foot": 0, "thigh_far": -90, "shin_far": -90, "foot_far": 0,
}  # fmt: skip
BASE_POSES: dict[str, dict[str, float]] = {
    "standing": _STAND,
    # on the back, legs straight, arms by the sides
    "supine": {
        "torso": 180, "head": 180,
        "arm": -3, "forearm": -3, "arm_far": 0, "forearm_far": 0,
        "thigh": 0, "shin": 0, "foot": 80, "thigh_far": 0, "shin_far": 0, "foot_far": 80,
    },
    # on the back, knees bent, feet flat
    "hook_lying": {
        "torso": 180, "head": 180,
        "arm": -3, "forearm": -3, "arm_far": 0, "forearm_far": 0,
        "thigh": 50, "shin": -75, "foot": 0, "thigh_far": 47, "shin_far": -78, "foot_far": 0,
    },
    # face down, arms by the sides
    "prone": {
        "torso": 0, "head": 0,
        "arm": 180, "forearm": 180, "arm_far": 178, "forearm_far": 178,
        "thigh": 180, "shin": 180, "foot": -150, "thigh_far": 180, "shin_far": 180, "foot_far": -150,
    },
    # hands and knees, back flat
    "quadruped": {
        "torso": 2, "head": 8,
        "arm": -88, "forearm": -92, "arm_far": -86, "forearm_far": -90,
        "thigh": -90, "shin": 180, "foot": 180, "thigh_far": -88, "shin_far": 180, "foot_far": 180,
    },
    # sitting upright on a chair, feet on the floor
    "sitting": {
        "torso": 90, "head": 90,
        "arm": -70, "forearm": 0, "arm_far": -66, "forearm_far": 4,
        "thigh": 0, "shin": -90, "foot": 0, "thigh_far": 3, "shin_far": -88, "foot_far": 0,
    },
    # kneeling upright on both knees
    "kneeling": {
        **_STAND,
        "thigh": -90, "shin": 180, "foot": 180, "thigh_far": -90, "shin_far": 180, "foot_far": 180,
    },
}  # fmt: skip
BasePose = Literal["standing", "supine", "hook_lying", "prone", "quadruped", "sitting", "kneeling"]


class Frame(BaseModel):
    """One picture of the figure: a base pose, the angles that differ, and how the back curves."""

    model_config = StrictModel

    pose: BasePose
    angles: dict[Segment, Angle] = Field(default_factory=dict)
    spine: float = Field(
        default=0, ge=-1, le=1, description="Curve of the back: 1 rounded (flexed), -1 arched (extended)"
    )
    face: Angle | None = Field(default=None, description="Where the face looks; default: ahead of the head")
    view: Literal["side", "front", "top"] = Field(
        default="side",
        description="front: seen from the front, every limb dark (side planks); top: seen from above, lying "
        "on the side on a mat",
    )
    short: list[Segment] = Field(default_factory=list, description="Segments pointing at the viewer")


class Prop(BaseModel):
    """Equipment or surroundings, placed at a joint (``at``), between two (``between``) or at ``x`` (units
    from the anchor joint; the figure is about 95 units tall)."""

    model_config = StrictModel

    kind: PropKind
    at: Joint | None = None
    between: Annotated[list[Joint], Field(min_length=2, max_length=2)] | None = None
    x: float | None = Field(default=None, ge=-150, le=150)

    @model_validator(mode="after")
    def _placed(self) -> Prop:
        needs = {
            "pillow": "at", "ball": "at", "belt": "at", "step": "at", "chair": "at|x", "wall": "x",
            "tree": "x", "flag": "x", "band": "at|between", "strap": "between",
        }  # fmt: skip
        wanted = needs.get(self.kind)
        if wanted and not any(getattr(self, name) is not None for name in wanted.split("|")):
            raise ValueError(f"a {self.kind} needs {' or '.join(wanted.split('|'))}")
        return self


class Arrow(BaseModel):
    """The movement: a joint's path from the first frame to the last (drawn on the last), or, with
    ``direction``, a short straight arrow at the joint (a hold: where the body sinks or presses)."""

    model_config = StrictModel

    joint: Joint
    bend: float = Field(default=0.25, ge=-1, le=1, description="How far the path curves (0: straight)")
    shift: list[float] = Field(
        default_factory=lambda: [0.0, 0.0],
        min_length=2,
        max_length=2,
        description="Moves the arrow off the body",
    )
    direction: Angle | None = None
    length: float = Field(default=14, ge=4, le=60)


class Illustration(BaseModel):
    """The pose data of one exercise: one or two frames (start, end), props, arrows and the alt text."""

    model_config = StrictModel

    alt: dict[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(?:-[A-Z]{2})?$")], AltText] = Field(
        description="What the picture shows, per locale (the SVG's description); English required"
    )
    frames: list[Frame] = Field(min_length=1, max_length=2)
    props: list[Prop] = Field(default_factory=list)
    arrows: list[Arrow] = Field(default_factory=list, max_length=3, description="Required in the catalogue")
    anchor: Joint = Field(default="hip", description="The joint that stays put between the frames")

    @model_validator(mode="after")
    def _english_and_arrows(self) -> Illustration:
        if "en" not in self.alt:
            raise ValueError("'en' alt text is required")
        if len(self.frames) == 1 and any(arrow.direction is None for arrow in self.arrows):
            raise ValueError("with one frame, every arrow needs a direction")
        if len({frame.view == "top" for frame in self.frames}) > 1:
            raise ValueError("a view from above cannot be mixed with a view from the side or front")
        return self
