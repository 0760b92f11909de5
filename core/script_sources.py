"""The plain-Python sources `core script` pastes into its scripts: data generators, readers, the Dataset and the
accuracy function, in the book's style (they import torch and numpy only)."""

# ruff: noqa: E501

_GENERATED_HELPERS = """
def class_sizes(n, k):
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def labels_for(sizes):
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


def jitter(X, noise, rng):
    return X + rng.normal(0.0, noise, size=X.shape) if noise > 0 else X
"""

_GENERATORS = {
    "moons": '''
def make_moons(samples, noise, rng):
    """Two interleaving half circles (the shape of scikit-learn's make_moons)."""
    sizes = class_sizes(samples, 2)
    t0 = np.linspace(0.0, math.pi, sizes[0])
    t1 = np.linspace(0.0, math.pi, sizes[1])
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    return jitter(np.concatenate([upper, lower]), noise, rng), labels_for(sizes)
''',
    "circles": '''
def make_circles(samples, noise, rng):
    """A circle of radius 1 (class 0) around one of radius 0.5 (class 1)."""
    sizes = class_sizes(samples, 2)
    parts = []
    for radius, size in zip((1.0, 0.5), sizes):
        t = np.linspace(0.0, 2 * math.pi, size, endpoint=False)
        parts.append(radius * np.stack([np.cos(t), np.sin(t)], axis=1))
    return jitter(np.concatenate(parts), noise, rng), labels_for(sizes)
''',
    "blobs": '''
def make_blobs(samples, classes, noise, rng):
    """`classes` Gaussian clouds (std 0.25) whose centres sit evenly on a circle, at least 1 apart."""
    sizes = class_sizes(samples, classes)
    radius = max(1.0, 0.5 / math.sin(math.pi / classes))
    angles = rng.uniform(0.0, 2 * math.pi) + 2 * math.pi * np.arange(classes) / classes
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    y = labels_for(sizes)
    X = centers[y] + rng.normal(0.0, 0.25, size=(samples, 2))
    return jitter(X, noise, rng), y
''',
    "xor": '''
def make_xor(samples, noise, rng):
    """Points in the square [-1, 1]^2; class 1 where x1 and x2 have different signs."""
    X = rng.uniform(-1.0, 1.0, size=(samples, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    return jitter(X, noise, rng), y
''',
    "spiral": '''
def make_spiral(samples, classes, noise, rng):
    """`classes` arms winding out from the centre, three quarters of a turn each."""
    sizes = class_sizes(samples, classes)
    parts = []
    for arm, size in enumerate(sizes):
        r = np.linspace(0.05, 1.0, size)
        theta = 2 * math.pi * arm / classes + 1.5 * math.pi * r
        parts.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
    return jitter(np.concatenate(parts), noise, rng), labels_for(sizes)
''',
}

_IRIS = """
def load_iris():
    with open(os.path.join(DATA_FOLDER, "iris.csv"), encoding="utf-8") as f:
        f.readline()  # "150,4,setosa,versicolor,virginica": rows, features, class names
        data = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    return data[:, :-1], data[:, -1].astype(np.int64)
"""

_DIGITS = """
def load_digits():
    with gzip.open(os.path.join(DATA_FOLDER, "digits.csv.gz"), "rt", encoding="ascii") as f:
        data = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)  # 64 pixels, then the digit
    return data[:, :-1], data[:, -1].astype(np.int64)
"""

_READ_CSV = '''
def read_csv(path, label_column=None):
    """Numeric feature columns and one label column (default: the last); labels become codes 0..k-1,
    sorted as numbers when all are whole numbers, else as text."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        first_line = f.readline()
        delimiter = "," if "," in first_line else next((d for d in (";", "\\t") if d in first_line), ",")
        f.seek(0)
        rows = [row for row in csv.reader(f, delimiter=delimiter) if row and (len(row) > 1 or row[0].strip())]
    columns = [name.strip() for name in rows[0]]
    label_index = len(columns) - 1 if label_column is None else columns.index(label_column.strip())
    feature_index = [i for i in range(len(columns)) if i != label_index]
    X = np.array([[float(row[i]) for i in feature_index] for row in rows[1:]], dtype=np.float64)
    labels = [row[label_index].strip() for row in rows[1:]]
    try:
        keys = [int(label) for label in labels]
    except ValueError:
        keys = labels
    code = {value: i for i, value in enumerate(sorted(set(keys)))}
    return X, np.array([code[key] for key in keys], dtype=np.int64)
'''

_SPLIT_INDICES = '''
def split_indices(y, test_fraction, rng):
    """Seeded, stratified train/test indices, each in random order; every class keeps a training row."""
    n = y.shape[0]
    _, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    n_test = max(0, min(math.floor(n * test_fraction + 0.5), n - counts.shape[0]))
    quota = np.minimum(counts * n_test // n, counts - 1)
    remainder = counts * n_test % n
    remaining = n_test - int(quota.sum())
    by_remainder = np.argsort(-remainder, kind="stable").tolist()
    while remaining > 0:
        for c in by_remainder:
            if remaining > 0 and quota[c] < counts[c] - 1:
                quota[c] += 1
                remaining -= 1
    perm = rng.permutation(n)
    codes_p = codes[perm]
    order = np.argsort(codes_p, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[codes_p[order]]
    is_test = rank < quota[codes_p]
    return perm[~is_test], perm[is_test]
'''

_STANDARDIZE = '''
def standardize(X_train, X_test):
    """z-scores with the training split's mean and (population) std, computed in float64."""
    X64 = X_train.to(torch.float64)
    mean = X64.mean(dim=0)
    std = X64.std(dim=0, unbiased=False)
    std = torch.where(std > 0, std, torch.ones_like(std))  # a constant column maps to 0
    mean, std = mean.to(torch.float32), std.to(torch.float32)
    return (X_train - mean) / std, (X_test - mean) / std
'''

_DATASET_CLASS = """
class ToyDataset(Dataset):
    def __init__(self, X, y):
        self.features = X
        self.labels = y

    def __getitem__(self, index):
        one_x = self.features[index]
        one_y = self.labels[index]
        return one_x, one_y

    def __len__(self):
        return self.labels.shape[0]
"""


# --- model, accuracy, loop ----------------------------------------------------------------------------
