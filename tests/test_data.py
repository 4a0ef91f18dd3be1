"""striate.data: file readers, datasets and splits, the DataLoader, preprocessing."""
import gzip
import json
import os
import pickle
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

import striate
from striate.data import (ArrayDataset, DataLoader, Dataset, ImageFolder, Normalize, Subset,
                          ToFloat, compute_mean_std, default_collate, random_split, read_idx,
                          validation_split, write_idx)
from striate.data import cifar, idx


# ---- IDX -------------------------------------------------------------------------------------
IDX_CODES = [(0x08, ">u1"), (0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"),
             (0x0E, ">f8")]


def _idx_bytes(code, big_endian_dtype, array):
    """An IDX file written by hand from the format's definition (independent of write_idx)."""
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(big_endian_dtype).tobytes()


def _sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("code,dtype", IDX_CODES, ids=[d for _, d in IDX_CODES])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)])
def test_read_idx_every_dtype(tmp_path, code, dtype, gz, shape):
    expected = _sample(np.dtype(dtype).newbyteorder("="), shape)
    body = _idx_bytes(code, dtype, expected)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    path.write_bytes(gzip.compress(body) if gz else body)
    got = read_idx(path)
    assert got.shape == shape and got.dtype == expected.dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, expected)


def test_read_idx_gzip_detected_by_content(tmp_path):
    expected = np.arange(6, dtype=np.uint8).reshape(2, 3)
    path = tmp_path / "no-suffix"
    path.write_bytes(gzip.compress(_idx_bytes(0x08, ">u1", expected)))
    np.testing.assert_array_equal(read_idx(path), expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["x.idx", "x.idx.gz"])
def test_write_idx_round_trip(tmp_path, dtype, name):
    expected = _sample(dtype, (2, 3, 4), seed=1)
    write_idx(tmp_path / name, expected)
    np.testing.assert_array_equal(read_idx(tmp_path / name), expected)


def test_write_idx_rejects_int64(tmp_path):
    with pytest.raises(TypeError, match="write_idx: IDX cannot hold dtype int64"):
        write_idx(tmp_path / "x.idx", np.zeros(3, np.int64))


def test_read_idx_bad_magic(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match=r"read_idx: .*bad is not an IDX file.*0x0100"):
        read_idx(tmp_path / "bad")


def test_read_idx_unknown_dtype_code(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0a\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="unknown dtype code 0x0A"):
        read_idx(tmp_path / "bad")


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated_data(tmp_path, gz):
    body = _idx_bytes(0x0C, ">i4", np.arange(12, dtype=np.int32).reshape(3, 4))[:-5]
    path = tmp_path / "t.idx"
    path.write_bytes(gzip.compress(body) if gz else body)
    with pytest.raises(ValueError, match=r"is truncated: dims \(3, 4\) of int32 need 48 data "
                                         r"bytes, found 43"):
        read_idx(path)


def test_read_idx_truncated_header_and_gzip(tmp_path):
    (tmp_path / "h").write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(ValueError, match="truncated inside its header"):
        read_idx(tmp_path / "h")
    (tmp_path / "tiny").write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="shorter than the 4-byte IDX header"):
        read_idx(tmp_path / "tiny")
    full = gzip.compress(_idx_bytes(0x08, ">u1", np.zeros((50, 50), np.uint8)))
    (tmp_path / "cut.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match="damaged or truncated gzip file"):
        read_idx(tmp_path / "cut.gz")


def test_read_idx_trailing_bytes(tmp_path):
    (tmp_path / "long").write_bytes(_idx_bytes(0x08, ">u1", np.zeros(4, np.uint8)) + b"\x00")
    with pytest.raises(ValueError, match="longer than its header says"):
        read_idx(tmp_path / "long")


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="read_idx: no such file: .*nothing.idx"):
        read_idx(tmp_path / "nothing.idx")


def _write_mnist_folder(folder, n_train=5, n_test=3, gz=True, sep="-"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{split}-images{sep}idx3-ubyte{suffix}", images)
        write_idx(folder / f"{split}-labels{sep}idx1-ubyte{suffix}", labels)
        arrays[split] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz,sep", [(True, "-"), (False, "-"), (False, ".")])
def test_load_mnist_from_folder(tmp_path, gz, sep):
    arrays = _write_mnist_folder(tmp_path, gz=gz, sep=sep)
    for split, key in (("train", "train"), ("test", "t10k")):
        images, labels = striate.data.load_mnist(tmp_path, split)
        assert images.dtype == np.uint8 and labels.dtype == np.int64
        np.testing.assert_array_equal(images, arrays[key][0])
        np.testing.assert_array_equal(labels, arrays[key][1])
    images, _ = striate.data.load_kmnist(tmp_path, "test")
    assert images.shape == (3, 28, 28)


def test_load_fashion_mnist_from_given_dir(tmp_path):
    arrays = _write_mnist_folder(tmp_path)
    images, labels = striate.data.load_fashion_mnist(tmp_path, split="test")
    np.testing.assert_array_equal(images, arrays["t10k"][0])


def test_load_fashion_mnist_missing_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r"sudo apt-get install dataset-fashion-mnist.*data_dir"):
        striate.data.load_fashion_mnist(tmp_path / "empty")


def test_load_mnist_bad_split(tmp_path):
    with pytest.raises(ValueError, match="load_mnist: split must be 'train' or 'test', got 'val'"):
        striate.data.load_mnist(tmp_path, "val")


def test_load_emnist_transposes(tmp_path):
    stored = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "emnist-letters-test-images-idx3-ubyte.gz", stored)
    write_idx(tmp_path / "emnist-letters-test-labels-idx1-ubyte.gz", np.array([1, 26], np.uint8))
    images, labels = striate.data.load_emnist(tmp_path, "test", subset="letters")
    np.testing.assert_array_equal(images, stored.transpose(0, 2, 1))
    np.testing.assert_array_equal(labels, [1, 26])
    with pytest.raises(ValueError, match="load_emnist: subset must be one of"):
        striate.data.load_emnist(tmp_path, "test", subset="greek")


@pytest.mark.skipif(not Path(idx.FASHION_MNIST_DIR).is_dir(),
                    reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    for split, n in (("train", 60000), ("test", 10000)):
        images, labels = striate.data.load_fashion_mnist(split=split)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.int64
        np.testing.assert_array_equal(np.bincount(labels, minlength=10), [n // 10] * 10)
    assert len(striate.data.FASHION_MNIST_CLASSES) == 10
    mean, std = compute_mean_std(images)  # the test split: about 0.286 and 0.353
    assert mean.shape == (1,) and abs(mean[0] - 0.286) < 0.01 and abs(std[0] - 0.353) < 0.01


# ---- CIFAR -----------------------------------------------------------------------------------
def _cifar_batch(rng, n, label_keys, protocol=2):
    """A batch in the real format: bytes keys, (n, 3072) uint8 data, labels as a list of ints."""
    batch = {b"batch_label": b"fake batch", b"data": rng.integers(0, 256, (n, 3072), np.uint8),
             b"filenames": [b"img%d.png" % i for i in range(n)]}
    for key, classes in label_keys.items():
        batch[key] = [int(v) for v in rng.integers(0, classes, n)]
    return pickle.dumps(batch, protocol=protocol), batch


@pytest.fixture
def cifar10_dir(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name, n in [(f"data_batch_{i}", 3) for i in range(1, 6)] + [("test_batch", 4)]:
        raw, batches[name] = _cifar_batch(rng, n, {b"labels": 10})
        (folder / name).write_bytes(raw)
    meta = {b"label_names": [c.encode() for c in cifar.CIFAR10_CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder, batches


def test_load_cifar10_layout(cifar10_dir):
    folder, batches = cifar10_dir
    images, labels = striate.data.load_cifar10(folder, "train")
    assert images.shape == (15, 3, 32, 32) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    data = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    for n, c, i, j in [(0, 0, 0, 0), (4, 1, 5, 7), (14, 2, 31, 30)]:  # R, G, B planes, row-major
        assert images[n, c, i, j] == data[n, c * 1024 + i * 32 + j]
    expected = sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    np.testing.assert_array_equal(labels, expected)
    test_images, test_labels = striate.data.load_cifar10(folder.parent, "test")  # parent works
    np.testing.assert_array_equal(test_images.reshape(4, -1), batches["test_batch"][b"data"])
    assert striate.data.cifar_class_names(folder) == list(cifar.CIFAR10_CLASSES)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_load_cifar100_fine_and_coarse(tmp_path, protocol):
    rng = np.random.default_rng(1)
    raw, batch = _cifar_batch(rng, 6, {b"fine_labels": 100, b"coarse_labels": 20}, protocol)
    (tmp_path / "train").write_bytes(raw)
    for label in ("fine", "coarse"):
        images, labels = striate.data.load_cifar100(tmp_path, "train", label=label)
        np.testing.assert_array_equal(images.reshape(6, -1), batch[b"data"])
        np.testing.assert_array_equal(labels, batch[f"{label}_labels".encode()])
    with pytest.raises(ValueError, match="load_cifar100: label must be 'fine' or 'coarse'"):
        striate.data.load_cifar100(tmp_path, "train", label="medium")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_cifar_numpy1_module_path(tmp_path):
    """The real files name numpy.core.multiarray._reconstruct (NumPy 1); it loads on NumPy 2 too."""
    rng = np.random.default_rng(4)
    raw, batch = _cifar_batch(rng, 2, {b"labels": 10})
    legacy = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct" in legacy
    (tmp_path / "test_batch").write_bytes(legacy)
    images, _ = striate.data.load_cifar10(tmp_path, "test")
    np.testing.assert_array_equal(images.reshape(2, -1), batch[b"data"])


def test_cifar_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": []}))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global (posix|os)\.system"):
        striate.data.load_cifar10(tmp_path, "test")
    assert not marker.exists()


def test_cifar_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"load_cifar10: data_batch_1.*cs.toronto.edu"):
        striate.data.load_cifar10(tmp_path, "train")


# ---- image folders ---------------------------------------------------------------------------
@pytest.fixture
def image_root(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(2)
    arrays = {}
    tree = {"b_dog": ["1.png", "2.bmp", "sub/3.ppm"], "a_cat": ["x.png", "y.jpg"]}
    for cls, names in tree.items():
        for name in names:
            path = tmp_path / "root" / cls / name
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
            image_module.fromarray(pixels).save(path)
            arrays[f"{cls}/{name}"] = pixels
    (tmp_path / "root" / "a_cat" / "notes.txt").write_text("not an image")
    return tmp_path / "root", arrays


def test_image_folder_classes_and_pixels(image_root):
    root, arrays = image_root
    ds = ImageFolder(root)
    assert ds.classes == ["a_cat", "b_dog"] and ds.class_to_idx == {"a_cat": 0, "b_dog": 1}
    assert len(ds) == 5 and ds.targets.tolist() == [0, 0, 1, 1, 1]
    names = [Path(p).relative_to(root).as_posix() for p, _ in ds.samples]
    assert names == ["a_cat/x.png", "a_cat/y.jpg", "b_dog/1.png", "b_dog/2.bmp", "b_dog/sub/3.ppm"]
    for i, name in enumerate(names):
        image, label = ds[i]
        assert image.shape == (3, 5, 6) and image.dtype == np.uint8 and label == ds.targets[i]
        if not name.endswith(".jpg"):  # lossless formats come back exactly
            np.testing.assert_array_equal(image, arrays[name].transpose(2, 0, 1))


def test_image_folder_grayscale_resize_and_loader(image_root):
    root, _ = image_root
    ds = ImageFolder(root, grayscale=True, size=(4, 3), transform=ToFloat())
    image, _ = ds[0]
    assert image.shape == (1, 4, 3) and image.dtype == np.float32 and image.max() <= 1.0
    x, y = next(iter(DataLoader(ds, batch_size=5)))
    assert x.shape == (5, 1, 4, 3) and y.data.tolist() == [0, 0, 1, 1, 1]
    images, labels = ImageFolder(root).load_all()
    assert images.shape == (5, 3, 5, 6) and labels.dtype == np.int64


def test_image_folder_errors(image_root, tmp_path):
    root, _ = image_root
    (root / "b_dog" / "broken.png").write_bytes(b"definitely not a png")
    ds = ImageFolder(root)
    broken = [i for i, (p, _) in enumerate(ds.samples) if p.endswith("broken.png")][0]
    with pytest.raises(OSError, match=r"cannot read image .*broken\.png"):
        ds[broken]
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="holds no images"):
        ImageFolder(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        ImageFolder(tmp_path / "missing")


def test_image_folder_mixed_sizes_need_size(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    (tmp_path / "c").mkdir()
    image_module.new("RGB", (4, 4)).save(tmp_path / "c" / "a.png")
    image_module.new("RGB", (5, 4)).save(tmp_path / "c" / "b.png")
    with pytest.raises(ValueError, match=r"different shapes.*pass size=\(H, W\)"):
        ImageFolder(tmp_path).get_batch([0, 1])
    assert ImageFolder(tmp_path, size=4).get_batch([0, 1])[0].shape == (2, 3, 4, 4)


# ---- scikit-learn digits ---------------------------------------------------------------------
def test_load_digits():
    pytest.importorskip("sklearn")
    images, labels = striate.data.load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))


def test_load_digits_without_sklearn(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="load_digits: needs scikit-learn"):
        striate.data.load_digits()


# ---- datasets and splits ---------------------------------------------------------------------
def _arrays(n=10, c=1, hw=4):
    images = np.arange(n * c * hw * hw, dtype=np.float32).reshape(n, c, hw, hw)
    return images, np.arange(n) % 3


def test_array_dataset():
    images, labels = _arrays()
    ds = ArrayDataset(images, labels)
    assert len(ds) == 10 and ds.labels.dtype == np.int64
    image, label = ds[-1]
    np.testing.assert_array_equal(image, images[9])
    got_x, got_y = ds.get_batch([3, 1, 3])
    np.testing.assert_array_equal(got_x, images[[3, 1, 3]])
    np.testing.assert_array_equal(got_y, labels[[3, 1, 3]])
    assert ArrayDataset(np.zeros((4, 5, 5), np.uint8), np.zeros(4)).images.shape == (4, 1, 5, 5)
    with pytest.raises(IndexError, match="index 10 is out of range for 10 samples"):
        ds[10]
    with pytest.raises(ValueError, match="ArrayDataset: images hold 10 samples"):
        ArrayDataset(images, labels[:9])


def test_dataset_is_abstract_and_generic_get_batch():
    with pytest.raises(TypeError):
        Dataset()

    class Squares(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.full((1, 2, 2), i * i, np.float32), i

    x, y = next(iter(DataLoader(Squares(), batch_size=4)))
    assert x.shape == (4, 1, 2, 2) and y.data.tolist() == [0, 1, 2, 3]
    assert x.data[:, 0, 0, 0].tolist() == [0, 1, 4, 9]


def test_subset_and_random_split():
    images, labels = _arrays(n=10)
    ds = ArrayDataset(images, labels)
    sub = Subset(ds, [7, 2, 5])
    np.testing.assert_array_equal(sub[1][0], images[2])
    np.testing.assert_array_equal(sub.get_batch([2, 0])[0], images[[5, 7]])
    parts = random_split(ds, [6, 4], seed=0)
    assert [len(p) for p in parts] == [6, 4]
    assert sorted(np.concatenate([p.indices for p in parts]).tolist()) == list(range(10))
    again = random_split(ds, [6, 4], seed=0)
    assert parts[0].indices.tolist() == again[0].indices.tolist()
    assert [len(p) for p in random_split(ds, [0.55, 0.25, 0.2], seed=1)] == [6, 2, 2]
    striate.manual_seed(5)
    a = random_split(ds, [5, 5])[0].indices
    striate.manual_seed(5)
    assert random_split(ds, [5, 5])[0].indices.tolist() == a.tolist()
    with pytest.raises(ValueError, match="must be non-negative and sum to the dataset's 10"):
        random_split(ds, [6, 5])


def test_validation_split_holds_out_the_last_fraction():
    images, labels = _arrays(n=10)
    (x_tr, y_tr), (x_val, y_val) = validation_split((images, labels), 0.25)  # floor(7.5) = 7
    np.testing.assert_array_equal(x_tr, images[:7])
    np.testing.assert_array_equal(y_val, labels[7:])
    train, val = validation_split(ArrayDataset(images, labels), 0.2)
    assert train.indices.tolist() == list(range(8)) and val.indices.tolist() == [8, 9]
    a, b = validation_split(images, 0.5)
    assert len(a) == 5 and len(b) == 5
    with pytest.raises(ValueError, match="too few to hold out"):
        validation_split(images[:1], 0.5)
    with pytest.raises(ValueError, match=r"fraction must lie in \(0, 1\)"):
        validation_split(images, 1.0)


# ---- DataLoader ------------------------------------------------------------------------------
def _collect(loader, limit=None):
    out = []
    for i, (x, y) in enumerate(loader):
        if limit is not None and i == limit:
            break
        out.append((x.data.copy(), y.data.copy()))
    return out


def test_loader_batches_and_dtypes():
    images = np.arange(10 * 4, dtype=np.uint8).reshape(10, 1, 2, 2)
    loader = DataLoader((images, np.arange(10)), batch_size=4)
    assert len(loader) == 3 and len(DataLoader((images, np.arange(10)), 4, drop_last=True)) == 2
    batches = _collect(loader)
    assert [len(x) for x, _ in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x, images[:4] / 255.0, rtol=1e-6)
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(x) for x, _ in _collect(DataLoader((images, np.arange(10)), 4, drop_last=True))] \
        == [4, 4]


def test_loader_slices_array_datasets_in_one_go(monkeypatch):
    images, labels = _arrays(n=12)

    def no_items(self, index):
        raise AssertionError("the loader must not read an ArrayDataset item by item")

    monkeypatch.setattr(ArrayDataset, "__getitem__", no_items)
    assert len(_collect(DataLoader(ArrayDataset(images, labels), 5, shuffle=True, seed=0))) == 3


def test_loader_shuffle_every_epoch_and_seeded():
    images, labels = _arrays(n=20)
    loader = DataLoader((images, labels), batch_size=6, shuffle=True, seed=3)
    firsts = []
    for _ in range(3):
        order = np.concatenate([x[:, 0, 0, 0] for x, _ in _collect(loader)]) / 16
        assert sorted(order.astype(int).tolist()) == list(range(20))
        firsts.append(order.tolist())
    assert firsts[0] != firsts[1] != firsts[2]
    twin = DataLoader((images, labels), batch_size=6, shuffle=True, seed=3)
    assert (np.concatenate([x[:, 0, 0, 0] for x, _ in _collect(twin)]) / 16).tolist() == firsts[0]
    striate.manual_seed(11)
    a = _collect(DataLoader((images, labels), 6, shuffle=True))
    striate.manual_seed(11)
    b = _collect(DataLoader((images, labels), 6, shuffle=True))
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a, b))


class _AddNoise:
    """A random transform: adds noise drawn from the rng it is given."""

    def __call__(self, x, rng):
        return x + rng.standard_normal(x.shape).astype(x.dtype)


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1])
                                    for p, q in zip(a, b))


@pytest.mark.parametrize("stop_at", [0, 2, 5])  # epoch boundary, mid-epoch, end of an epoch
def test_loader_state_resumes_exactly(stop_at):
    images, labels = _arrays(n=17)

    def make(seed):
        return DataLoader(ArrayDataset(images, labels, transform=_AddNoise()), batch_size=4,
                          shuffle=True, seed=seed, transform=_AddNoise())

    reference = make(7)
    ref_epochs = [_collect(reference) for _ in range(3)]  # 5 batches an epoch
    loader = make(7)
    first = _collect(loader)
    it = iter(loader)
    seen = [next(it) for _ in range(stop_at)]
    state = json.loads(json.dumps(loader.state_dict()))  # must survive a JSON checkpoint
    del it
    assert all(np.array_equal(s[0].data, r[0]) for s, r in zip(seen, ref_epochs[1]))
    resumed = make(123)  # another seed: the state must override it
    resumed.load_state_dict(state)
    rest = _collect(resumed)
    if stop_at == 5:
        assert _same(rest, ref_epochs[2])
    else:
        assert _same(rest, ref_epochs[1][stop_at:])
        assert _same(_collect(resumed), ref_epochs[2])
    assert _same(first, ref_epochs[0])


def test_loader_state_after_a_whole_epoch_taken_without_exhausting():
    images, labels = _arrays(n=8)
    loader = DataLoader((images, labels), batch_size=4, shuffle=True, seed=1)
    ref = DataLoader((images, labels), batch_size=4, shuffle=True, seed=1)
    ref_epochs = [_collect(ref), _collect(ref)]
    it = iter(loader)
    next(it), next(it)  # both batches taken, the generator never told it is finished
    state = loader.state_dict()
    assert state["epoch"] == 1 and state["batch"] == 0
    loader.load_state_dict(state)
    assert _same(_collect(loader), ref_epochs[1])


def test_loader_prefetch_gives_the_same_batches():
    images, labels = _arrays(n=23)
    plain = _collect(DataLoader((images, labels), 5, shuffle=True, seed=4, transform=_AddNoise()))
    ahead = _collect(DataLoader((images, labels), 5, shuffle=True, seed=4, transform=_AddNoise(),
                                prefetch=2))
    assert _same(plain, ahead)


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "striate-prefetch" and t.is_alive()]


def test_loader_prefetch_stops_when_the_loop_breaks():
    images, labels = _arrays(n=40)
    loader = DataLoader((images, labels), batch_size=2, prefetch=3)
    for i, _ in enumerate(loader):
        if i == 1:
            assert len(_prefetch_threads()) == 1
            break
    assert _prefetch_threads() == []
    assert len(_collect(loader)) == 20  # and the loader still works afterwards
    assert _prefetch_threads() == []


def test_loader_prefetch_passes_errors_on():
    images, labels = _arrays(n=10)

    def failing(x, rng):
        raise RuntimeError("augmentation broke")

    with pytest.raises(RuntimeError, match="augmentation broke"):
        _collect(DataLoader((images, labels), 2, prefetch=2, transform=failing))
    assert _prefetch_threads() == []


def test_loader_custom_collate_and_errors():
    images, labels = _arrays(n=5)
    calls = []

    def collate(items):
        calls.append(len(items))
        return default_collate(items)

    batches = _collect(DataLoader((images, labels), 2, collate=collate))
    assert calls == [2, 2, 1] and np.array_equal(batches[2][0], images[4:])
    with pytest.raises(ValueError, match="DataLoader: batch_size must be a positive int"):
        DataLoader((images, labels), batch_size=0)
    with pytest.raises(ValueError, match="DataLoader: prefetch must be an int >= 0"):
        DataLoader((images, labels), prefetch=-1)


def test_loader_float64_default_dtype():
    images, labels = _arrays(n=4)
    striate.set_default_dtype(np.float64)
    try:
        x, _ = next(iter(DataLoader((images, labels), 4)))
        assert x.dtype == np.float64
    finally:
        striate.set_default_dtype(np.float32)


# ---- preprocessing ---------------------------------------------------------------------------
def test_to_float_and_normalize():
    x = np.array([0, 51, 255], np.uint8).reshape(1, 1, 1, 3)
    y = ToFloat()(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.ravel(), [0.0, 0.2, 1.0], rtol=1e-6)
    assert ToFloat(np.float64)(x).dtype == np.float64
    rng = np.random.default_rng(0)
    batch = rng.random((4, 3, 5, 5))
    mean, std = [0.1, 0.2, 0.3], [0.5, 1.0, 2.0]
    got = Normalize(mean, std)(batch)
    for c in range(3):
        np.testing.assert_allclose(got[:, c], (batch[:, c] - mean[c]) / std[c])
    assert Normalize(0.5, 0.25)(batch[0]).shape == (3, 5, 5)
    with pytest.raises(TypeError, match="Normalize: expected a floating-point batch, got uint8"):
        Normalize(0.5, 0.5)(np.zeros((1, 1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="Normalize: mean has 2 values, the batch has 3 channels"):
        Normalize([0.0, 0.0], 1.0)(batch)
    with pytest.raises(ValueError, match="Normalize: std must be positive"):
        Normalize(0.0, [1.0, 0.0])


def test_compute_mean_std():
    rng = np.random.default_rng(1)
    images = rng.random((11, 3, 4, 5))
    mean, std = compute_mean_std(images, batch_size=3)
    np.testing.assert_allclose(mean, images.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(std, images.std(axis=(0, 2, 3)))
    as_bytes = rng.integers(0, 256, (6, 1, 3, 3), dtype=np.uint8)
    mean, std = compute_mean_std(ArrayDataset(as_bytes, np.zeros(6)), batch_size=4)
    np.testing.assert_allclose(mean, [as_bytes.mean() / 255])
    np.testing.assert_allclose(std, [as_bytes.std() / 255])
    normalised = Normalize(mean, std)(ToFloat(np.float64)(as_bytes))
    np.testing.assert_allclose([normalised.mean(), normalised.std()], [0.0, 1.0], atol=1e-12)
