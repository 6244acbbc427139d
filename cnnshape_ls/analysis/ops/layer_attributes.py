"""What a torch layer's attributes hold once its ``__init__`` ran (``self.stride`` read in a subclass of
``nn.Conv2d``), which is not always the argument as written: convolutions keep tuples, pools keep what
they were given but fill an omitted stride with the kernel size, ``AvgPool1d`` makes 1-tuples."""

from __future__ import annotations

from typing import Any

from ..layers import UNKNOWN
from ..values import Layer

CONV_TUPLES = ("kernel_size", "stride", "padding", "dilation", "output_padding")
"""``_ConvNd`` makes each of these an n-tuple (``padding`` stays a string: ``'same'``)."""
CONVOLUTIONS = {f"{kind}{n}d": n for kind in ("Conv", "ConvTranspose", "LazyConv", "LazyConvTranspose")
                for n in (1, 2, 3)}
POOLS = {f"{kind}Pool{n}d" for kind in ("Max", "Avg") for n in (1, 2, 3)}


def ntuple(value: Any, n: int) -> Any:
    """torch's ``_ntuple(n)``: an iterable becomes a tuple as it is, anything else is repeated n times."""
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, (list, tuple)):
        return tuple(value)
    if isinstance(value, (str, dict)):
        return UNKNOWN  # torch would take its characters (or keys): nobody means that
    return (value,) * n


def layer_attribute(layer: Layer, name: str) -> Any:
    """``layer.<name>`` for an argument of its constructor, as torch stores it."""
    value = layer.args.values.get(name, UNKNOWN)
    op = layer.rule.op
    if op in CONVOLUTIONS and name in CONV_TUPLES:
        if name == "padding" and isinstance(value, str):
            return value
        return ntuple(value, CONVOLUTIONS[op])
    if op in POOLS:
        if name == "stride" and value is None:  # ``stride if (stride is not None) else kernel_size``
            value = layer.args.values.get("kernel_size", UNKNOWN)
        if op == "AvgPool1d" and name in ("kernel_size", "stride", "padding"):
            return ntuple(value, 1)
    return value


CONV_FORWARD_READS = ("stride", "padding", "dilation", "groups", "padding_mode", "output_padding")
"""What a convolution's ``forward`` reads from its attributes; its sizes come from ``weight`` (set in
``__init__``), so ``self.in_channels = 5`` afterwards changes nothing torch computes."""


def write_layer_attribute(layer: Layer, name: str, value: Any) -> None:
    """``self.<name> = value`` in a subclass of a torch layer, after its ``__init__``: what the layer's own
    ``forward`` then computes with. Where the analysis does not know whether ``forward`` reads it, the
    argument becomes unknown (and so does what depends on it)."""
    if name not in layer.args.values:
        return
    op = layer.rule.op
    if op in CONVOLUTIONS:
        if name == "groups" and value != layer.args.values.get("groups", 1):
            layer.incomplete = True  # the weight keeps in_channels/groups of the old groups: another input
        elif name == "padding" and layer.args.values.get("padding_mode", "zeros") != "zeros":
            layer.incomplete = True  # torch pads by what __init__ computed from the old padding
        elif name in CONV_FORWARD_READS:
            layer.args.values[name] = value
        return
    if "Pool" in op:
        if "stride" in layer.args.values and layer.args.values["stride"] is None:
            layer.args.values["stride"] = layer_attribute(layer, "stride")  # torch stored the kernel size
        layer.args.values[name] = value  # a pool's forward passes every attribute on to F.*_pool*
        return
    try:
        unchanged = value == layer_attribute(layer, name)
    except Exception:
        unchanged = False
    if not (isinstance(unchanged, bool) and unchanged):
        layer.args.values[name] = UNKNOWN
