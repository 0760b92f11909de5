"""Model files: atomic saves, and opening anyone's .pt/.pth or .safetensors without running code from it.

    save.py         atomic writes; the app's file, a bare state_dict, a .safetensors file, a trainer's fields
    safe_pickle.py  the security boundary: path, sniff, container (containers.py), pickle opcodes
                    (pickle_scan.py), bounds (limits.py), then weights_only torch.load; knows no models
    layouts.py      which keys are an MLP, and the weight checks
    app_format.py   the app's own file <-> TrainConfig, History, Standardizer, names
    safetensors_io.py  the .safetensors format: the header vetted before the library reads the file; its bytes
    load.py         load_model_file: the three above, in that order (or safetensors_io, then layouts and app_format)
"""

from __future__ import annotations

from core.checkpoint.app_format import FORMAT, VERSION
from core.checkpoint.limits import (
    EXPANSION_FLOOR,
    MAX_EXPANSION,
    MAX_FILE_BYTES,
    MAX_PICKLE_BYTES,
    MAX_PICKLE_COST,
    MAX_ZIP_DIRECTORY_BYTES,
)
from core.checkpoint.load import LoadedModel, load_model_file
from core.checkpoint.safetensors_io import MAX_HEADER_BYTES as MAX_SAFETENSORS_HEADER_BYTES
from core.checkpoint.save import (
    atomic_torch_save,
    atomic_write,
    export_safetensors,
    export_state_dict,
    save_model_file,
    trainer_fields,
)
from core.errors import ModelFileError

__all__ = [
    "EXPANSION_FLOOR",
    "FORMAT",
    "MAX_EXPANSION",
    "MAX_FILE_BYTES",
    "MAX_PICKLE_BYTES",
    "MAX_PICKLE_COST",
    "MAX_SAFETENSORS_HEADER_BYTES",
    "MAX_ZIP_DIRECTORY_BYTES",
    "VERSION",
    "LoadedModel",
    "ModelFileError",
    "atomic_torch_save",
    "atomic_write",
    "export_safetensors",
    "export_state_dict",
    "load_model_file",
    "save_model_file",
    "trainer_fields",
]
