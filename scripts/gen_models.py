#!/usr/bin/python3
"""Generate berth's test model repository (Triton layout).

    /usr/bin/python3 scripts/gen_models.py --out DIR [--bench] [--big-model-mb N]
                                          [--only NAME[,NAME...]]

Writes DIR/<model>/<version>/model.onnx (or model.pt) and, where the model
has one, DIR/<model>/config.pbtxt in Triton's protobuf text format.

Default set (small; committed under tests/fixtures/models/):
  add_sub      ONNX, OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1,
               FP32 [-1,16], config with max_batch_size 8 + dynamic batching.
  identity_all ONNX, no config: one Identity per V2 datatype,
               IN_<TYPE> -> OUT_<TYPE>, 1-D shape [-1].
  tiny_cnn     ONNX (exported from torch), no config:
               "input" FP32 [-1,1,28,28] -> "logits" FP32 [-1,10].
  tiny_cnn_pt  TorchScript of the same network with the same weights,
               config: INPUT__0 FP32 [1,28,28] -> OUTPUT__0 FP32 [10].
  versioned    ONNX, versions 1..3, y = x + <version>, x/y FP32 [-1,4],
               config keeps the latest 2 versions (2 and 3).
  broken       1/model.onnx holding bytes that are not an ONNX model.
  flaky        ONNX, versioned's signature (x/y FP32 [-1,4]), y = x + 1 +
               C[int(x)] with C eight zeros: answers like versioned 1 for
               elements in [-8, 8) and fails at run time (HTTP 500) for any
               other, so that a caller chooses which requests fail (a canary
               that errors on some of its traffic).

--bench adds mobilenet_v2 and resnet50 (random seeded weights, ONNX opset 13,
"input" FP32 [-1,3,224,224] -> "output" FP32 [-1,1000]).

--big-model-mb N adds `big`: x FP32 [1] -> y = x + C[int(x)], where C is an
FP32 initializer of N MiB (C[i] = i % 1024).  The lookup depends on the input,
so runtimes cannot constant-fold the initializer away: a loaded `big` really
holds N MiB.  Used to check that unloading a model releases its memory.

--only restricts the output to the named models (e.g. `--only big`).

Output is deterministic: fixed seeds, no timestamps, no source paths.
"""

import argparse
import io
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 7  # the lowest IR version that carries opset 13; widest runtime support
PRODUCER = "berth-gen-models"

DEFAULT_MODELS = ["add_sub", "identity_all", "tiny_cnn", "tiny_cnn_pt", "versioned", "broken",
                  "flaky"]
BENCH_MODELS = ["mobilenet_v2", "resnet50"]

# V2 datatype -> ONNX element type, for identity_all.
V2_TO_ONNX = [
    ("BOOL", TensorProto.BOOL),
    ("UINT8", TensorProto.UINT8),
    ("UINT16", TensorProto.UINT16),
    ("UINT32", TensorProto.UINT32),
    ("UINT64", TensorProto.UINT64),
    ("INT8", TensorProto.INT8),
    ("INT16", TensorProto.INT16),
    ("INT32", TensorProto.INT32),
    ("INT64", TensorProto.INT64),
    ("FP16", TensorProto.FLOAT16),
    ("FP32", TensorProto.FLOAT),
    ("FP64", TensorProto.DOUBLE),
    ("BYTES", TensorProto.STRING),
]

# Not a protobuf: the first byte 'N' (0x4E) is field 9 with wire type 6, which
# does not exist, so any protobuf parser rejects it at offset 0.
BROKEN_BYTES = b"NOT AN ONNX MODEL\n" + bytes(range(256))


# --------------------------------------------------------------------------
# helpers


def _finish(graph, doc=""):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version="1",
        doc_string=doc,
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def _normalize(model):
    """Drop everything from a torch export that is not the model itself."""
    model.producer_name = PRODUCER
    model.producer_version = "1"
    model.doc_string = ""
    model.graph.doc_string = ""
    for node in model.graph.node:
        node.doc_string = ""
    del model.metadata_props[:]
    onnx.checker.check_model(model)
    return model


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _save_onnx(model, path):
    _write(path, model.SerializeToString(deterministic=True))


def _write_config(model_dir, text):
    _write(os.path.join(model_dir, "config.pbtxt"), text.encode("utf-8"))


def _tensor_cfg(name, data_type, dims):
    return (
        "  {\n"
        f'    name: "{name}"\n'
        f"    data_type: {data_type}\n"
        f"    dims: [ {', '.join(str(d) for d in dims)} ]\n"
        "  }"
    )


def _io_cfg(kind, tensors):
    return f"{kind} [\n" + ",\n".join(_tensor_cfg(*t) for t in tensors) + "\n]\n"


def _vi(name, elem_type, shape):
    return helper.make_tensor_value_info(name, elem_type, shape)


# --------------------------------------------------------------------------
# default models


def gen_add_sub(out):
    shape = ["batch", 16]
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"], name="add"),
            helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"], name="sub"),
        ],
        "add_sub",
        [_vi("INPUT0", TensorProto.FLOAT, shape), _vi("INPUT1", TensorProto.FLOAT, shape)],
        [_vi("OUTPUT0", TensorProto.FLOAT, shape), _vi("OUTPUT1", TensorProto.FLOAT, shape)],
    )
    mdir = os.path.join(out, "add_sub")
    _save_onnx(_finish(graph), os.path.join(mdir, "1", "model.onnx"))
    _write_config(
        mdir,
        'name: "add_sub"\n'
        'platform: "onnxruntime_onnx"\n'
        "max_batch_size: 8\n"
        + _io_cfg("input", [("INPUT0", "TYPE_FP32", [16]), ("INPUT1", "TYPE_FP32", [16])])
        + _io_cfg("output", [("OUTPUT0", "TYPE_FP32", [16]), ("OUTPUT1", "TYPE_FP32", [16])])
        + "dynamic_batching {\n"
        "  preferred_batch_size: [ 4, 8 ]\n"
        "  max_queue_delay_microseconds: 500\n"
        "}\n"
        "instance_group [\n"
        "  {\n"
        "    count: 1\n"
        "    kind: KIND_CPU\n"
        "  }\n"
        "]\n",
    )


def gen_identity_all(out):
    nodes, inputs, outputs = [], [], []
    for v2, onnx_type in V2_TO_ONNX:
        nodes.append(helper.make_node("Identity", [f"IN_{v2}"], [f"OUT_{v2}"], name=f"id_{v2}"))
        inputs.append(_vi(f"IN_{v2}", onnx_type, ["N"]))
        outputs.append(_vi(f"OUT_{v2}", onnx_type, ["N"]))
    graph = helper.make_graph(nodes, "identity_all", inputs, outputs)
    _save_onnx(_finish(graph), os.path.join(out, "identity_all", "1", "model.onnx"))


def gen_versioned(out):
    mdir = os.path.join(out, "versioned")
    for version in (1, 2, 3):
        const = numpy_helper.from_array(np.array([float(version)], dtype=np.float32), "k")
        graph = helper.make_graph(
            [helper.make_node("Add", ["x", "k"], ["y"], name="add_version")],
            "versioned",
            [_vi("x", TensorProto.FLOAT, ["batch", 4])],
            [_vi("y", TensorProto.FLOAT, ["batch", 4])],
            initializer=[const],
        )
        _save_onnx(_finish(graph, doc=f"y = x + {version}"),
                   os.path.join(mdir, str(version), "model.onnx"))
    _write_config(
        mdir,
        'name: "versioned"\n'
        'platform: "onnxruntime_onnx"\n'
        "max_batch_size: 4\n"
        "version_policy: { latest: { num_versions: 2 } }\n"
        + _io_cfg("input", [("x", "TYPE_FP32", [4])])
        + _io_cfg("output", [("y", "TYPE_FP32", [4])]),
    )


def gen_flaky(out):
    zeros = numpy_helper.from_array(np.zeros(8, dtype=np.float32), "table")
    one = numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one")
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["idx"], name="to_index", to=TensorProto.INT64),
            helper.make_node("Gather", ["table", "idx"], ["picked"], name="lookup", axis=0),
            helper.make_node("Add", ["x", "one"], ["plus_one"], name="add_one"),
            helper.make_node("Add", ["plus_one", "picked"], ["y"], name="add"),
        ],
        "flaky",
        [_vi("x", TensorProto.FLOAT, ["batch", 4])],
        [_vi("y", TensorProto.FLOAT, ["batch", 4])],
        initializer=[zeros, one],
    )
    _save_onnx(_finish(graph, doc="y = x + 1 + zeros[int(x)]: fails for x outside [-8, 8)"),
               os.path.join(out, "flaky", "1", "model.onnx"))


def gen_broken(out):
    _write(os.path.join(out, "broken", "1", "model.onnx"), BROKEN_BYTES)


def _big_model(n, table):
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["x"], ["idx"], name="to_index", to=TensorProto.INT64),
            helper.make_node("Gather", ["table", "idx"], ["picked"], name="lookup", axis=0),
            helper.make_node("Add", ["x", "picked"], ["y"], name="add"),
        ],
        "big",
        [_vi("x", TensorProto.FLOAT, [1])],
        [_vi("y", TensorProto.FLOAT, [1])],
        initializer=[table],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version="1",
        doc_string=f"y = x + table[int(x)], table[i] = i % 1024, {n} floats",
    )


def _big_table(n):
    pattern = np.arange(1024, dtype=np.float32)
    reps = -(-n // 1024)
    data = np.tile(pattern, reps)[:n]
    t = TensorProto()
    t.name = "table"
    t.data_type = TensorProto.FLOAT
    t.dims.append(n)
    t.raw_data = data.tobytes()  # little-endian on every platform berth targets
    return t


def gen_big(out, mib):
    n = int(mib * 1024 * 1024) // 4
    if n < 1:
        raise SystemExit("--big-model-mb must be > 0")
    # The checker re-serializes the whole model (seconds for hundreds of MiB), so
    # check the same graph with a small table, then write the full-size one.
    small = _big_model(n, _big_table(1024))
    small.ir_version = IR_VERSION
    onnx.checker.check_model(small)
    model = _big_model(n, _big_table(n))
    model.ir_version = IR_VERSION
    _save_onnx(model, os.path.join(out, "big", "1", "model.onnx"))


# --------------------------------------------------------------------------
# torch models


def _torch():
    import torch  # imported lazily: only the torch-based models need it

    torch.set_num_threads(1)
    return torch


# The tiny network's source lives in a string registered with linecache under a
# fixed name, so that TorchScript's debug info (which records source file names
# and line numbers) does not depend on where this script sits or how it changes.
_TINY_CNN_FILE = "<berth>/tiny_cnn.py"
_TINY_CNN_SRC = """\
class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, kernel_size=3, stride=2)  # 28x28 -> 13x13
        self.fc = nn.Linear(4 * 13 * 13, 10)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(torch.flatten(x, 1))
"""


def _tiny_cnn(torch):
    import linecache

    lines = _TINY_CNN_SRC.splitlines(True)
    linecache.cache[_TINY_CNN_FILE] = (len(_TINY_CNN_SRC), None, lines, _TINY_CNN_FILE)
    scope = {"torch": torch, "nn": torch.nn, "__name__": "berth_tiny_cnn"}
    exec(compile(_TINY_CNN_SRC, _TINY_CNN_FILE, "exec"), scope)

    torch.manual_seed(20240501)
    model = scope["TinyCNN"]().eval()
    # Give the weights a clear scale so the logits are far from zero.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return model


def _export_onnx(torch, model, example, in_name, out_name, path):
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            model,
            example,
            buf,
            opset_version=OPSET,
            input_names=[in_name],
            output_names=[out_name],
            dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}},
            do_constant_folding=True,
        )
    m = _normalize(onnx.load_from_string(buf.getvalue()))
    _save_onnx(m, path)


def gen_tiny_cnn_both(out, which):
    torch = _torch()
    model = _tiny_cnn(torch)
    example = torch.zeros(2, 1, 28, 28)
    if "tiny_cnn" in which:
        _export_onnx(torch, model, example, "input", "logits",
                     os.path.join(out, "tiny_cnn", "1", "model.onnx"))
    if "tiny_cnn_pt" in which:
        mdir = os.path.join(out, "tiny_cnn_pt")
        # torch.jit.script rather than trace: a trace records the Python call
        # stack (this file's path and line numbers) in the archive's debug info.
        scripted = torch.jit.script(model)
        buf = io.BytesIO()
        torch.jit.save(scripted, buf)
        _write(os.path.join(mdir, "1", "model.pt"), buf.getvalue())
        _write_config(
            mdir,
            'name: "tiny_cnn_pt"\n'
            'platform: "pytorch_libtorch"\n'
            "max_batch_size: 8\n"
            + _io_cfg("input", [("INPUT__0", "TYPE_FP32", [1, 28, 28])])
            + _io_cfg("output", [("OUTPUT__0", "TYPE_FP32", [10])])
            + "dynamic_batching { }\n",
        )


def _bench_nets(torch):
    """Compact MobileNetV2 and ResNet-50 (torchvision's architectures)."""
    nn = torch.nn

    def conv_bn(cin, cout, k, s, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False),
                  nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        return nn.Sequential(*layers)

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            self.use_res = stride == 1 and cin == cout
            layers = [conv_bn(cin, hidden, 1, 1)] if expand != 1 else []
            layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                       conv_bn(hidden, cout, 1, 1, act=False)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                   (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
            layers = [conv_bn(3, 32, 3, 2)]
            cin = 32
            for t, c, n, s in cfg:
                for i in range(n):
                    layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                    cin = c
            layers.append(conv_bn(cin, 1280, 1, 1))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

        def forward(self, x):
            x = self.features(x)
            x = nn.functional.adaptive_avg_pool2d(x, 1)
            return self.classifier(torch.flatten(x, 1))

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * 4
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            idn = x if self.downsample is None else self.downsample(x)
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + idn)

    class ResNet50(nn.Module):
        def __init__(self, num_classes=1000):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            blocks, cin = [], 64
            for width, n, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
                for i in range(n):
                    blocks.append(Bottleneck(cin, width, stride if i == 0 else 1))
                    cin = width * 4
            self.layers = nn.Sequential(*blocks)
            self.fc = nn.Linear(2048, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layers(x)
            x = nn.functional.adaptive_avg_pool2d(x, 1)
            return self.fc(torch.flatten(x, 1))

    return MobileNetV2, ResNet50


def gen_bench(out, which):
    torch = _torch()
    try:
        import torchvision.models as tvm  # not packaged on Debian 12; optional

        ctors = {"mobilenet_v2": lambda: tvm.mobilenet_v2(weights=None),
                 "resnet50": lambda: tvm.resnet50(weights=None)}
    except ImportError:
        mobilenet, resnet = _bench_nets(torch)
        ctors = {"mobilenet_v2": mobilenet, "resnet50": resnet}
    for seed, name in enumerate(BENCH_MODELS):
        if name not in which:
            continue
        torch.manual_seed(1000 + seed)
        model = ctors[name]().eval()
        _export_onnx(torch, model, torch.zeros(1, 3, 224, 224), "input", "output",
                     os.path.join(out, name, "1", "model.onnx"))


# --------------------------------------------------------------------------


def _pin_hash_seed():
    """TorchScript writes module constants in set order, which follows Python's
    per-process string hash seed; re-run under a fixed seed so model.pt files
    are byte-identical from run to run."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="model repository directory to write")
    ap.add_argument("--bench", action="store_true", help="also write mobilenet_v2 and resnet50")
    ap.add_argument("--big-model-mb", type=float, default=0,
                    help="also write `big`, holding an initializer of this many MiB")
    ap.add_argument("--only", default="", help="comma-separated subset of the models to write")
    args = ap.parse_args(argv)

    names = list(DEFAULT_MODELS)
    if args.bench:
        names += BENCH_MODELS
    if args.big_model_mb > 0:
        names.append("big")
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            ap.error(f"--only names models not selected by the other flags: {', '.join(unknown)}")
        names = [n for n in names if n in wanted]

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    for name in names:  # start each model from scratch so no stale version survives
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)

    generators = {
        "add_sub": gen_add_sub,
        "identity_all": gen_identity_all,
        "versioned": gen_versioned,
        "broken": gen_broken,
        "flaky": gen_flaky,
    }
    for name in names:
        if name in generators:
            generators[name](out)
    cnn = [n for n in names if n in ("tiny_cnn", "tiny_cnn_pt")]
    if cnn:
        gen_tiny_cnn_both(out, cnn)
    bench = [n for n in names if n in BENCH_MODELS]
    if bench:
        gen_bench(out, bench)
    if "big" in names:
        gen_big(out, args.big_model_mb)

    for name in names:
        print(f"wrote {os.path.join(out, name)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    _pin_hash_seed()
    sys.exit(main())
