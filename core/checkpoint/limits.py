"""Every bound a model file must stay within, with the reason for its size: the file, its zip, its pickle, its metadata."""

from __future__ import annotations

# A 2 GiB file holds ~500 million float32 weights, far beyond any MLP this app trains; larger files
# are refused before anything is read.
MAX_FILE_BYTES = 2 * 1024**3
# torch.save stores zip members uncompressed, so a genuine torch file expands by a factor of 1.
# Someone may re-zip one with deflate; float weights barely compress, but zero-initialised or pruned
# tensors do, so allow 8x the size on disk and never less than 64 MiB. Anything beyond is a
# decompression bomb: a 300 KB file of deflated zeros would otherwise make torch allocate 300 MB.
EXPANSION_FLOOR = 64 * 1024**2
MAX_EXPANSION = 8
# zipfile builds a ~500-byte ZipInfo per directory entry (an entry costs ~50 bytes on disk), so the
# directory is bounded before it is parsed: 4 MiB is ~80,000 entries, 100 times a large checkpoint.
MAX_ZIP_DIRECTORY_BYTES = 4 * 1024**2
# The pickle holds only the structure (names, shapes, small metadata); the weights live elsewhere.
# An app file with a million-batch history has a pickle of about 1 MB.
MAX_PICKLE_BYTES = 16 * 1024**2
# Each pickle opcode may create one Python object (an empty dict is 64 bytes from a 1-byte opcode),
# so the memory a pickle costs to read is estimated as 64 bytes per opcode plus its text and bytes.
OPCODE_COST = 64
MAX_PICKLE_COST = 64 * 1024**2
TOO_COSTLY = "its structure would take more than 64 MB of memory to read; no model's weights need that"
# Walks over loaded metadata count every visit (a shared list is counted each time it is reached),
# so a pickle of doubly shared lists cannot make a walk, a repr or json.dumps take exponential time.
MAX_METADATA_NODES = 2_000_000
MAX_DEPTH = 64
# What a file's tensors would take once read, counted from their declared sizes (a sparse file is counted
# by what it declares, not by the blocks it uses on disk), each value at least 4 bytes since every weight is
# used as float32. Opening costs about three times this at the peak (the bytes read, the tensors, the model
# built from them), so 512 MiB keeps the worst accepted file near 1.5 GB; it is 134 million float32
# values, over a hundred times the largest MLP the window trains in reasonable time on a CPU. A larger
# declaration is refused before any tensor is materialised.
MAX_TENSOR_BYTES = 512 * 1024**2
MIN_VALUE_BYTES = 4
# A stored standardizer divides each feature by its std in float32. Standardizer.fit gives a constant
# column std 1, so a file this app writes never holds a spread near 0; below 1e-12 a difference of 1 in a
# raw feature becomes 1e12 or more, which a few layers of ordinary weights take past float32's 3.4e38,
# and below float32's smallest normal (1.2e-38) the std itself rounds to 0 and every prediction is inf/NaN.
MIN_STANDARDIZER_STD = 1e-12
# float32's largest finite value: a mean or std beyond it becomes inf once the model's float32 applies it.
FLOAT32_MAX = 3.4028234663852886e38
