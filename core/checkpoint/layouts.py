"""Which keys are an MLP's weights: wrappers, prefixes and Sequential layouts renamed to the book's
`layers.N.weight/bias`, and the checks that make the weights dense, finite float32 tensors of their own."""

from __future__ import annotations

import re
from typing import Any

import torch

from core.checkpoint.reasons import Refused, describe, key_text
from core.config import MAX_LAYERS
from core.model import Architecture, ArchitectureError, architecture_from_state_dict

# Where checkpoints written by common training code keep their state_dict, tried in this order.
WRAPPER_KEYS = ("model_state_dict", "state_dict", "model", "module", "net")
# Prefixes that wrappers add to every key, and who adds them.
PREFIXES = {"module.": "DDP", "_orig_mod.": "torch.compile"}
BOOK_LAYOUT = "state_dict (book layout)"
# The config allows at most MAX_LAYERS hidden layers, so an MLP this app builds has at most MAX_LAYERS + 1
# Linear layers (two tensors each). More is refused before a model is built: nn.Module.load_state_dict is
# quadratic in the number of modules (15,000 1x1 layers in a 2.9 MB file took 54 s to predict with).
MAX_LINEAR_LAYERS = MAX_LAYERS + 1
MAX_WEIGHT_TENSORS = 2 * MAX_LINEAR_LAYERS
# A layer's index is a canonical ASCII decimal: "\d" and int() also take "00" and Arabic-Indic or other
# Unicode digits, which would make two keys name one layer (one silently replacing the other); fullmatch,
# since "$" also matches before a trailing newline.
_INDEX = r"(?:0|[1-9][0-9]*)"
_BOOK_KEY = re.compile(rf"layers\.{_INDEX}\.(?:weight|bias)", re.ASCII)
_SEQUENTIAL_KEY = re.compile(rf"{_INDEX}\.(?:weight|bias)", re.ASCII)
_NAMED_SEQUENTIAL_KEY = re.compile(rf"([A-Za-z_][A-Za-z0-9_]*)\.{_INDEX}\.(?:weight|bias)", re.ASCII)


def find_weights(obj: Any) -> tuple[dict[str, Any], str]:
    """The weights in a loaded object that is not an app file, with canonical keys, and a person's
    description of the layout found (e.g. "DDP state_dict (module. prefix)")."""
    raw, wrapper = find_state_dict(obj)
    state, layout = canonical(raw)
    if wrapper is None:
        return state, layout
    return state, f"{'state_dict' if layout == BOOK_LAYOUT else layout} inside {wrapper!r}"


def find_state_dict(obj: Any) -> tuple[dict, str | None]:
    """The state_dict itself, or the one inside a common wrapper key (returned as the second item)."""
    if not isinstance(obj, dict):
        raise Refused(f"it holds {describe(obj)}, not model weights")
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, None
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            return inner, key
    tensors = [k for k, v in obj.items() if isinstance(v, torch.Tensor)]
    if tensors:
        odd = next(k for k, v in obj.items() if not isinstance(v, torch.Tensor))
        raise Refused(f"its entry {key_text(odd)} holds {describe(obj[odd])}, not a tensor, so it is not a state_dict of weights")
    keys = [key_text(k) for k in list(obj)[:5]]
    listed = f" (keys: {', '.join(keys)}{', ...' if len(obj) > 5 else ''})" if keys else ""
    raise Refused(f"it holds a dict without any tensors{listed}, not model weights")


def canonical(raw: dict) -> tuple[dict[str, Any], str]:
    """Rename keys to the book's layers.N.weight/bias and say which layout they came in."""
    if not raw:
        raise Refused("it holds no weights (an empty state_dict)")
    bad = next((k for k in raw if not isinstance(k, str)), None)
    if bad is not None:
        raise Refused(f"it has a weight whose name is not text ({key_text(bad)})")
    if len(raw) > MAX_WEIGHT_TENSORS:
        raise Refused(
            f"it holds {len(raw):,} weights, more than the {MAX_WEIGHT_TENSORS} of the largest MLP this app builds "
            f"({MAX_LINEAR_LAYERS} linear layers, a weight and a bias each)"
        )
    keys = list(raw)
    prefixes = []
    while True:
        prefix = next((p for p in PREFIXES if all(k.startswith(p) for k in keys)), None)
        if prefix is None:
            break
        prefixes.append(prefix)
        keys = [k[len(prefix) :] for k in keys]
    stripped = keys
    layout = BOOK_LAYOUT
    if all(_BOOK_KEY.fullmatch(k) for k in keys):
        pass
    elif all(_SEQUENTIAL_KEY.fullmatch(k) for k in keys):
        keys = ["layers." + k for k in keys]
        layout = "nn.Sequential state_dict"
    else:
        names = {m.group(1) if m else None for m in map(_NAMED_SEQUENTIAL_KEY.fullmatch, keys)}
        if len(names) == 1 and None not in names:
            (name,) = names
            keys = ["layers." + k[len(name) + 1 :] for k in keys]
            layout = f"nn.Sequential state_dict (named {name!r})"
    if prefixes:
        kinds = " + ".join(PREFIXES[p] for p in prefixes)
        shown = " and ".join(prefixes)
        layout = f"{kinds} state_dict ({shown} prefix{'es' if len(prefixes) > 1 else ''})"
    if not all(_BOOK_KEY.fullmatch(k) for k in keys):
        # Name a key that fits no layout ("layers.00.weight"), not one that only fits another ("0.weight").
        fits = (_BOOK_KEY, _SEQUENTIAL_KEY, _NAMED_SEQUENTIAL_KEY)
        odd = [old for old, k in zip(raw, stripped, strict=True) if not any(p.fullmatch(k) for p in fits)]
        bad = odd[0] if odd else next(old for old, k in zip(raw, keys, strict=True) if not _BOOK_KEY.fullmatch(k))
        raise Refused(f"its weights are not those of an MLP this app can build: it has a weight named {_shown_key(bad)}, {_NOT_A_LAYER}")
    state = dict(zip(keys, raw.values(), strict=True))
    if len(state) != len(raw):  # unreachable with canonical indices; a guard against any aliasing
        raise Refused("two of its weights name the same layer")
    return state, layout


_NOT_A_LAYER = (
    "which is not a layer of an MLP (expected layers.N.weight or layers.N.bias, N a plain decimal number such as 0 or 2)"
)


def _shown_key(key: str) -> str:
    """key_text, and the first character that is not ASCII by its code, since "٠" and "0" look alike."""
    odd = next((ch for ch in key if not ch.isascii() or not ch.isprintable()), None)
    return key_text(key) + (f" (it contains the character U+{ord(odd):04X})" if odd is not None else "")


def check_weights(state: dict[str, Any], notes: list[str]) -> tuple[Architecture, dict[str, torch.Tensor]]:
    """The architecture read from canonical weights' shapes, and the weights as float32, contiguous cpu
    tensors that own their values; refuses anything else, and notes a conversion from another dtype."""
    odd = next((k for k, t in state.items() if not isinstance(t, torch.Tensor)), None)
    if odd is not None:
        raise Refused(f"its weight {odd!r} holds {describe(state[odd])}, not a tensor")
    # Shapes first (they are readable on any tensor): a CNN is "not an MLP", not "has int buffers".
    try:
        architecture = architecture_from_state_dict(state)
    except ArchitectureError as exc:
        raise Refused(f"its weights are not those of an MLP this app can build: {exc}") from None
    for key, t in state.items():
        problem = tensor_problem(t, float_only=True)
        if problem:
            raise Refused(f"its weight {key!r} {problem}")
    # Overlapping views could make the float32 copies below far larger than the storages loaded.
    storages = {(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()) for t in state.values()}
    if sum(t.numel() * t.element_size() for t in state.values()) > sum(n for _, n in storages):
        raise Refused("its weights overlap in memory, which torch.save of a model never writes")
    dtypes = {t.dtype for t in state.values()} - {torch.float32}
    if dtypes:
        shown = ", ".join(sorted(str(d).replace("torch.", "") for d in dtypes))
        notes.append(f"its weights were stored as {shown} and are used as float32")
    weights: dict[str, torch.Tensor] = {}
    for index in sorted({int(k.split(".")[1]) for k in state}):
        for part in ("weight", "bias"):
            key = f"layers.{index}.{part}"
            t = state[key].detach()
            if t.dtype == torch.float64 and not bool(torch.isfinite(t).all()):
                raise Refused(f"its weight {key!r} contains NaN or infinite values (non-finite), so it cannot compute anything")
            w = t.to(torch.float32).contiguous()
            if w.untyped_storage().nbytes() > w.numel() * w.element_size():
                w = w.clone()  # a slice of a larger storage: keep only its own values
            if not bool(torch.isfinite(w).all()):
                reason = "values too large for float32" if t.dtype == torch.float64 else "NaN or infinite values (non-finite)"
                raise Refused(f"its weight {key!r} contains {reason}, so it cannot compute anything")
            weights[key] = w
    return architecture, weights


def tensor_problem(t: Any, *, float_only: bool) -> str | None:
    """Why a loaded value is not a plain dense cpu tensor whose storage holds all its values, or None."""
    if not isinstance(t, torch.Tensor):
        return f"holds {describe(t)}, not a tensor"
    if t.layout != torch.strided:
        return "is a sparse tensor, not plain dense weights"
    if t.is_quantized:
        return "is a quantized tensor, not floating-point weights"
    if t.is_meta or t.device.type != "cpu":
        return "is a meta tensor, which has a shape but no values"
    if float_only:
        if t.is_complex():
            return f"holds complex numbers ({str(t.dtype).replace('torch.', '')}), not real floating-point weights"
        if t.dtype == torch.bool:
            return "holds true/false values, not floating-point weights"
        if not t.is_floating_point():
            return f"holds whole numbers ({str(t.dtype).replace('torch.', '')}), not floating-point weights"
    # A stride-0 view of a 4-byte storage can claim a billion values; copying it would take 4 GB.
    if t.numel() * t.element_size() > t.untyped_storage().nbytes():
        return f"claims {t.numel():,} values but its data holds only {t.untyped_storage().nbytes():,} bytes"
    return None
