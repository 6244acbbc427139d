"""Which names mean what: the groups of ``torch`` names handled alike, and where a qualified name lives."""

from __future__ import annotations

from ..layers import REPARAMETRISATIONS

CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
SAME_SHAPE = {
    "relu", "relu_", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "sigmoid", "tanh", "leaky_relu",
    "hardtanh", "hardswish", "hardsigmoid", "softplus", "softsign", "tanhshrink", "softshrink", "hardshrink",
    "logsigmoid", "rrelu", "prelu", "threshold", "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
    "feature_alpha_dropout", "softmax", "log_softmax", "softmin", "normalize", "batch_norm", "instance_norm",
    "layer_norm", "group_norm", "local_response_norm", "contiguous", "float", "double", "half", "long", "int",
    "bool", "to", "cuda", "cpu", "detach", "clone", "type", "type_as", "abs", "exp", "log", "sqrt", "rsqrt",
    "neg", "clamp", "clamp_", "clip", "sign", "floor", "ceil", "round", "pow", "square", "sin", "cos", "erf",
    "sigmoid_", "tanh_", "mul_", "add_", "div_", "sub_", "fill_", "zero_", "requires_grad_",
    "nan_to_num", "logit", "reciprocal", "cumsum", "cumprod", "flip", "roll", "masked_fill", "dropout_",
    "pin_memory", "numpy", "expm1", "log1p", "where", "trunc", "frac",
}
REDUCTIONS = {"mean", "sum", "amax", "amin", "prod", "std", "var", "norm", "logsumexp", "nansum", "nanmean",
              "argmax", "argmin", "all", "any", "count_nonzero"}
REDUCTIONS_WITH_INDICES = {"max", "min", "median", "mode"}
CREATORS = {"zeros", "ones", "randn", "rand", "empty", "full", "randint", "zeros_like", "ones_like", "randn_like",
            "eye", "Tensor", "FloatTensor", "from_numpy", "as_tensor",
            "rand_like", "empty_like", "full_like", "tensor", "arange", "linspace"}
MODULE_MODES = ("to", "eval", "train", "cuda", "cpu", "float", "double", "half", "requires_grad_")
"""Module methods that return the module itself."""
MODULE_METHOD_NAMES = frozenset({
    "add_module", "apply", "bfloat16", "buffers", "children", "compile", "cpu", "cuda", "double", "eval",
    "extra_repr", "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half",
    "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children", "named_modules",
    "named_parameters", "parameters", "register_backward_hook", "register_buffer", "register_forward_hook",
    "register_forward_pre_hook", "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook", "register_module",
    "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_",
    "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "type", "xpu",
    "zero_grad",
})
"""The methods of ``nn.Module`` (torch 2.x): a submodule assigned under one of these names does not hide it."""


def tail(qualname: str) -> str:
    return qualname.rsplit(".", 1)[-1]


def is_nn(qualname: str) -> bool:
    parts = qualname.split(".")
    return len(parts) >= 3 and parts[0] == "torch" and parts[1] == "nn" and parts[2] not in ("functional", "init") \
        or qualname.startswith("torch.nn.modules.")


def is_functional(qualname: str) -> bool:
    return qualname.startswith("torch.nn.functional.")


def is_torch_function(qualname: str) -> bool:
    return qualname.startswith("torch.") and qualname.count(".") == 1


__all__ = ["CONTAINERS", "CREATORS", "MODULE_METHOD_NAMES",
           "MODULE_MODES", "REDUCTIONS", "REDUCTIONS_WITH_INDICES", "REPARAMETRISATIONS",
           "SAME_SHAPE", "is_functional", "is_nn", "is_torch_function", "tail"]
