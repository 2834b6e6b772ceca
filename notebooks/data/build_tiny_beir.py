"""Build ``tiny_beir/``: a small BEIR-format dataset from the docstrings of Python's stdlib.

The corpus is the docstrings of public functions and classes of a few standard-library
modules (Python Software Foundation License); the queries and their relevance judgements are
written by hand below. The files are committed: run this script again only to change them
(docstrings differ slightly between Python versions).

    python notebooks/data/build_tiny_beir.py
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

MODULES = (
    "json csv re itertools functools collections heapq bisect shutil tempfile hashlib secrets "
    "random statistics textwrap difflib subprocess glob fnmatch base64 zlib gzip uuid "
    "urllib.parse time math copy string zipfile tarfile sqlite3 threading queue struct inspect "
    "traceback contextlib operator unicodedata mimetypes calendar getpass platform timeit "
    "weakref pickle ipaddress html os.path"
).split()
PER_MODULE = 6
MAX_CHARS = 900

# (query, {doc_id: grade}); grade 2 = answers it, 1 = related.
QUERIES: list[tuple[str, dict[str, int]]] = [
    ("write a Python object as a JSON formatted string", {"json.dumps": 2, "json.dump": 1}),
    ("read rows from a comma separated values file", {"csv.reader": 2}),
    ("split a string using a regular expression pattern", {"re.split": 2}),
    ("replace every match of a regex in a string", {"re.sub": 2, "re.subn": 1}),
    ("cache the results of a function call", {"functools.lru_cache": 2, "functools.cache": 2}),
    ("count how many times each element occurs", {"collections.Counter": 2}),
    ("get the n largest items from a list", {"heapq.nlargest": 2}),
    (
        "insert into a sorted list keeping it sorted",
        {"bisect.insort_right": 2, "bisect.insort_left": 2},
    ),
    ("copy a whole directory tree recursively", {"shutil.copytree": 2}),
    ("delete a directory and everything in it", {"shutil.rmtree": 2}),
    (
        "create a temporary directory that is removed afterwards",
        {"tempfile.TemporaryDirectory": 2, "tempfile.mkdtemp": 1},
    ),
    (
        "generate a secure random token for a password reset link",
        {"secrets.token_urlsafe": 2, "secrets.token_hex": 2},
    ),
    ("pick a random element from a sequence", {"random.choice": 2}),
    ("compute the median of data", {"statistics.median": 2}),
    ("wrap a paragraph of text to a fixed width", {"textwrap.wrap": 2, "textwrap.fill": 2}),
    (
        "show the differences between two lists of lines",
        {"difflib.unified_diff": 2, "difflib.context_diff": 2, "difflib.ndiff": 1},
    ),
    (
        "run an external program and capture its output",
        {"subprocess.run": 2, "subprocess.check_output": 2},
    ),
    (
        "find files whose names match a wildcard pattern",
        {"glob.glob": 2, "glob.iglob": 1, "fnmatch.fnmatch": 1},
    ),
    ("encode binary data as base64", {"base64.b64encode": 2, "base64.standard_b64encode": 1}),
    ("make a random universally unique identifier", {"uuid.uuid4": 2}),
    (
        "split a URL into scheme, host and path",
        {"urllib.parse.urlparse": 2, "urllib.parse.urlsplit": 2},
    ),
    ("make a deep copy of a nested object", {"copy.deepcopy": 2}),
    ("compress files into a zip archive", {"zipfile.ZipFile": 2}),
    ("run tasks in a background thread", {"threading.Thread": 2}),
    ("a thread-safe first-in first-out queue", {"queue.Queue": 2}),
    ("pack numbers into bytes in a C struct layout", {"struct.pack": 2}),
    ("get the signature of a function", {"inspect.signature": 2}),
    (
        "print the current exception with its stack trace",
        {"traceback.print_exc": 2, "traceback.format_exc": 1},
    ),
    ("ignore a specific exception in a with block", {"contextlib.suppress": 2}),
    ("guess the MIME type of a file from its name", {"mimetypes.guess_type": 2}),
    ("ask the user for a password without echoing it", {"getpass.getpass": 2}),
    ("serialize an object to bytes with pickle", {"pickle.dumps": 2, "pickle.dump": 1}),
    ("escape special characters for HTML", {"html.escape": 2}),
    ("check whether a path points to an existing file", {"os.path.isfile": 2, "os.path.exists": 1}),
]


def _docs_of(module_name: str, wanted: set[str]) -> dict[str, str]:
    module = importlib.import_module(module_name)
    docs = {}
    for name in sorted(dir(module)):
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        home = str(getattr(obj, "__module__", "") or "")
        own = home.startswith(module_name) or home.lstrip("_") == module_name.split(".")[-1]
        if not own and f"{module_name}.{name}" not in wanted:
            continue  # a re-export such as csv.StringIO
        doc = inspect.cleandoc(obj.__doc__ or "")
        # short docstrings make weak documents, except the judged ones we chose by hand
        if len(doc) < (10 if f"{module_name}.{name}" in wanted else 60):
            continue
        docs[f"{module_name}.{name}"] = (
            doc[:MAX_CHARS].rsplit(" ", 1)[0] if len(doc) > MAX_CHARS else doc
        )
    return docs


def build(out: Path) -> None:
    wanted = {doc_id for _, grades in QUERIES for doc_id in grades}
    corpus: dict[str, str] = {}
    for module_name in MODULES:
        docs = _docs_of(module_name, wanted)
        keep = [d for d in docs if d in wanted]
        keep += [d for d in docs if d not in wanted][: max(PER_MODULE - len(keep), 2)]
        corpus.update({d: docs[d] for d in sorted(keep)})
    missing = sorted(wanted - corpus.keys())
    if missing:
        raise SystemExit(f"judged documents without a docstring here: {missing}")
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        for doc_id, text in corpus.items():
            handle.write(json.dumps({"_id": doc_id, "title": doc_id, "text": text}) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as handle:
        for i, (query, _) in enumerate(QUERIES, start=1):
            handle.write(json.dumps({"_id": f"q{i}", "text": query}) + "\n")
    rows = ["query-id\tcorpus-id\tscore"]
    for i, (_, grades) in enumerate(QUERIES, start=1):
        rows += [f"q{i}\t{doc_id}\t{grade}" for doc_id, grade in grades.items()]
    (out / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"{out}: {len(corpus)} documents, {len(QUERIES)} queries, {len(rows) - 1} judgements")


if __name__ == "__main__":
    build(Path(__file__).resolve().parent / "tiny_beir")
