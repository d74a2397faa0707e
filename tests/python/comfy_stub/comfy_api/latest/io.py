"""Stand-in for ``comfy_api.latest.io``, shaped like ComfyUI's V3 ``_io`` module.

Inputs keep their keyword arguments so tests can check ranges, defaults and order; ``as_dict``
mirrors the ``/object_info`` fields the frontend reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar


class Hidden(str, Enum):
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"


@dataclass
class HiddenHolder:
    unique_id: str | None = None
    prompt: Any = None
    extra_pnginfo: Any = None


class Input:
    io_type: ClassVar[str] = ""

    def __init__(self, id: str, optional: bool = False, tooltip: str | None = None, **options):
        self.id = id
        self.optional = optional
        self.tooltip = tooltip
        self.options = options

    @property
    def default(self) -> Any:
        return self.options.get("default")

    @property
    def is_widget(self) -> bool:
        return self.io_type in WIDGET_TYPES and not self.options.get("force_input")

    def as_dict(self) -> dict[str, Any]:
        extra = {k: v for k, v in self.options.items() if v is not None}
        return {"tooltip": self.tooltip, **extra} if self.tooltip else extra


class Output:
    io_type: ClassVar[str] = ""

    def __init__(self, id: str | None = None, display_name: str | None = None, **options):
        self.id = id
        self.display_name = display_name
        self.options = options


def _comfy_type(io_type: str) -> type:
    input_cls = type(f"{io_type}Input", (Input,), {"io_type": io_type})
    output_cls = type(f"{io_type}Output", (Output,), {"io_type": io_type})
    return type(io_type, (), {"io_type": io_type, "Input": input_cls, "Output": output_cls})


Int = _comfy_type("INT")
Float = _comfy_type("FLOAT")
String = _comfy_type("STRING")
Boolean = _comfy_type("BOOLEAN")
Image = _comfy_type("IMAGE")


class _ComboInput(Input):
    io_type: ClassVar[str] = "COMBO"

    def __init__(self, id: str, options: list[str] | None = None, **kwargs: Any):
        super().__init__(id, **kwargs)
        self.choices = list(options or [])


Combo = type("COMBO", (), {"io_type": "COMBO", "Input": _ComboInput})
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})


def Custom(io_type: str) -> type:
    return _comfy_type(io_type)


@dataclass
class Schema:
    node_id: str
    display_name: str | None = None
    category: str = "sd"
    description: str = ""
    inputs: list[Input] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    hidden: list[Hidden] = field(default_factory=list)
    is_output_node: bool = False
    not_idempotent: bool = False

    def __post_init__(self) -> None:
        # ComfyUI refuses to load a node whose ids repeat within or across inputs and outputs.
        inputs = [i.id for i in self.inputs]
        outputs = [o.id for o in self.outputs]
        for kind, ids in (("Input", inputs), ("Output", outputs)):
            repeated = {i for i in ids if ids.count(i) > 1}
            if repeated:
                raise ValueError(f"{kind} ids must be unique, but {sorted(repeated)} are not.")
        shared = set(inputs) & set(outputs)
        if shared:
            raise ValueError(
                f"Ids must be unique between inputs and outputs, but {sorted(shared)} are not."
            )


class NodeOutput:
    def __init__(self, *args: Any, ui: Any = None) -> None:
        self.args = args
        self.ui = ui

    @property
    def result(self) -> tuple[Any, ...]:
        return self.args


class ComfyNode:
    """Nodes are classmethod-only; ComfyUI sets ``hidden`` before each call."""

    hidden: ClassVar[HiddenHolder | None] = None

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs: Any) -> NodeOutput:
        raise NotImplementedError
