"""Nothing a user can swap in (params, data files, checkpoints, a dataset folder) is unpickled or
executed: an AST scan of the library and the stages for every call that could run what a file holds,
and the scanner's own tests."""

import ast

import pytest

from conftest import ROOT

# Calls that run code from a file a user could swap in. Names are canonical: `import pickle as pk`,
# `from torch import load` and `import pandas as pd` are resolved before matching.
UNPICKLING = {
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "_pickle.load",
    "_pickle.loads",
    "_pickle.Unpickler",
    "dill.load",
    "dill.loads",
    "cloudpickle.load",
    "cloudpickle.loads",
    "joblib.load",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "yaml.unsafe_load",
    "yaml.unsafe_load_all",
    "yaml.full_load",
    "yaml.full_load_all",
    "eval",
    "exec",
    "builtins.eval",
    "builtins.exec",
}
TORCH_LOAD = {"torch.load", "torch.serialization.load"}
YAML_LOAD = {"yaml.load", "yaml.load_all"}
SAFE_YAML_LOADERS = {"yaml.SafeLoader", "yaml.CSafeLoader", "yaml.BaseLoader", "yaml.CBaseLoader"}


def _imports(tree: ast.AST) -> dict[str, str]:
    """Local name -> what it refers to, from every import in the file."""
    names = {"pd": "pandas", "np": "numpy"}  # the usual aliases, even in a snippet without its imports
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _canonical(node: ast.AST, names: dict[str, str]) -> str:
    head, dot, rest = ast.unparse(node).partition(".")
    return names.get(head, head) + dot + rest


def _constant(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def unsafe_calls(source: str, filename: str) -> list[str]:
    """file:line of every call that can execute what a file holds: unpickling (pickle & co, pandas
    read_pickle, numpy.load(allow_pickle=True), torch.load without weights_only=True), yaml.load
    without a safe loader, eval/exec, and trust_remote_code other than a literal False."""
    tree = ast.parse(source, filename)
    names = _imports(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _canonical(node.func, names)
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        where = f"{filename}:{node.lineno} {name}"
        if name in UNPICKLING or name.rpartition(".")[2] == "read_pickle":
            found.append(where)
        elif name in TORCH_LOAD and not _constant(kwargs.get("weights_only"), True):
            found.append(where + " without weights_only=True")
        elif name == "numpy.load" and "allow_pickle" in kwargs and not _constant(kwargs["allow_pickle"], False):
            found.append(where + " with allow_pickle")
        elif name in YAML_LOAD:
            loader = kwargs.get("Loader", node.args[1] if len(node.args) > 1 else None)
            if loader is None or _canonical(loader, names) not in SAFE_YAML_LOADERS:
                found.append(where + " without a safe Loader")
        if "trust_remote_code" in kwargs and not _constant(kwargs["trust_remote_code"], False):
            found.append(where + " with trust_remote_code")
    return found


def test_no_unsafe_loads():
    found = []
    for folder in ("rlhf_core", "stages"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += unsafe_calls(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == [], "unsafe loads: " + "; ".join(found)


@pytest.mark.parametrize(
    "code, bad",
    [
        ("import torch\ntorch.load('w.pt')", True),
        ("import torch\ntorch.load('w.pt', weights_only=False)", True),
        ("import torch\ntorch.load('w.pt', weights_only=flag)", True),
        ("import torch\ntorch.load('w.pt', weights_only=True)", False),
        ("from torch import load\nload('w.pt')", True),
        ("import torch as T\nT.load('w.pt')", True),
        ("from torch.serialization import load as tl\ntl('w.pt')", True),
        ("import pickle\npickle.loads(b'')", True),
        ("import pickle as pk\npk.load(f)", True),
        ("from pickle import loads\nloads(b'')", True),
        ("import pickle\npickle.Unpickler(f).load()", True),
        ("import pickle\npickle.dumps(x)", False),
        ("import joblib\njoblib.load('m.joblib')", True),
        ("import marshal\nmarshal.loads(b'')", True),
        ("import shelve\nshelve.open('db')", True),
        ("import pandas as pd\npd.read_pickle('x')", True),
        ("from pandas import read_pickle\nread_pickle('x')", True),
        ("import pandas as pd\npd.read_parquet('x'); pd.read_csv('y')", False),
        ("import numpy as np\nnp.load('x.npy', allow_pickle=True)", True),
        ("import numpy as np\nnp.load('x.npy')", False),
        ("import yaml\nyaml.load(text)", True),
        ("import yaml\nyaml.load(text, Loader=yaml.Loader)", True),
        ("import yaml\nyaml.load(text, Loader=yaml.SafeLoader)", False),
        ("import yaml\nyaml.unsafe_load(text)", True),
        ("import yaml\nyaml.safe_load(text)", False),
        ("from datasets import load_dataset\nload_dataset('x', trust_remote_code=True)", True),
        ("from datasets import load_dataset\nload_dataset('x', trust_remote_code=flag)", True),
        ("from datasets import load_dataset\nload_dataset('x', trust_remote_code=False)", False),
        ("from transformers import AutoModel\nAutoModel.from_pretrained('x', trust_remote_code=True)", True),
        ("from datasets import load_dataset\nload_dataset('x')", False),
        ("eval('1+1')", True),
        ("exec('x = 1')", True),
        ("import builtins\nbuiltins.exec('x = 1')", True),
        ("model.eval()", False),
        ("from safetensors.torch import load_file\nload_file('w.safetensors')", False),
    ],
)
def test_the_scanner_catches_what_it_should(code, bad):
    assert bool(unsafe_calls(code, "x.py")) is bad
