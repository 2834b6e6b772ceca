"""Shared fixtures: real models, real Qdrant, real diskcache directories. No mocks."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The ONNX export of the embedding model (the default backend) goes to a folder of this run,
# shared by every test and the CLI processes they start, never to the user's ~/.cache.
if "RAGDROP_ONNX_DIR" not in os.environ:
    _ONNX_DIR = tempfile.mkdtemp(prefix="ragdrop-test-onnx-")
    os.environ["RAGDROP_ONNX_DIR"] = _ONNX_DIR
    atexit.register(shutil.rmtree, _ONNX_DIR, True)

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from llama_index.core import Document  # noqa: E402

from ragdrop.embeddings import SentenceTransformerEmbedding, bundled_minilm_path  # noqa: E402

FIXTURE_TEXTS: dict[str, str] = {
    "qdrant": (
        "Qdrant is a vector database written in Rust. It stores points with vectors and "
        "payloads. Collections can be sharded across nodes and replicated for availability. "
        "HNSW indexes make approximate nearest neighbour search fast."
    ),
    "bm25": (
        "BM25 is a ranking function used by search engines. It scores documents by term "
        "frequency and inverse document frequency. The parameters k1 and b control term "
        "saturation and length normalisation."
    ),
    "python_with": (
        "The with statement wraps a block in a context manager. The manager's __enter__ "
        "method runs first, and __exit__ runs when the block ends, even after an exception. "
        "Files are usually opened with a with statement so that they are closed."
    ),
    "cooking": (
        "To bake bread, mix flour, water, salt and yeast. Knead the dough for ten minutes. "
        "Let it rise for an hour, shape it, and bake it at 230 degrees Celsius."
    ),
    "rerank": (
        "A cross-encoder reads the query and the passage together and outputs one relevance "
        "score. Reranking the top candidates of a fast retriever improves precision."
    ),
}


@pytest.fixture(scope="session")
def fixture_documents() -> list[Document]:
    """A small corpus with stable ids and metadata."""
    return [
        Document(text=text, id_=doc_id, metadata={"topic": doc_id, "length": len(text)})
        for doc_id, text in FIXTURE_TEXTS.items()
    ]


@pytest.fixture(scope="session")
def embed_model() -> SentenceTransformerEmbedding:
    """The real all-MiniLM-L6-v2, loaded once per session."""
    model = SentenceTransformerEmbedding()
    model.warm_up()
    return model


@pytest.fixture()
def qdrant_memory() -> Iterator[Any]:
    """A fresh Qdrant local-mode client in memory."""
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")
    yield client
    client.close()


@pytest.fixture()
def qdrant_disk(tmp_path: Path) -> Iterator[Any]:
    """A fresh Qdrant local-mode client at an on-disk path."""
    from qdrant_client import QdrantClient

    client = QdrantClient(path=str(tmp_path / "qdrant"))
    yield client
    client.close()


@pytest.fixture(params=["memory", "disk"])
def qdrant_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The same test on Qdrant ``:memory:`` and on an on-disk path."""
    from qdrant_client import QdrantClient

    if request.param == "memory":
        client = QdrantClient(location=":memory:")
    else:
        client = QdrantClient(path=str(tmp_path / "qdrant"))
    yield client
    client.close()


@pytest.fixture(scope="session")
def tiny_cross_encoder_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BertForSequenceClassification (1 label) saved with a tokenizer.

    Cross-encoder weights cannot be downloaded here; this model is loaded through the
    same code path as a real one. Its scores are deterministic (seeded) but meaningless.
    """
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    out = tmp_path_factory.mktemp("tiny-cross-encoder")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
    )
    model = BertForSequenceClassification(config)
    model.eval()
    model.save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_path()))
    tokenizer.save_pretrained(out)
    return Path(out)


class RedisServer:
    """A real ``redis-server`` on a free 127.0.0.1 port: no persistence, its own folder.

    ``url`` has the password in it (when started with one); with ``tls`` the server speaks
    only TLS (``rediss://``) with a self-signed certificate for 127.0.0.1, ``ca_file``.
    ``kill()`` SIGKILLs the process and ``start()`` starts a new one on the same port (an
    empty database).
    """

    def __init__(self, folder: Path, password: str | None = None, tls: bool = False) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.folder = folder
        self.password = password
        self.tls = tls
        self.ca_file = folder / "cert.pem"
        auth = f":{password}@" if password else ""
        self.url = f"{'rediss' if tls else 'redis'}://{auth}127.0.0.1:{self.port}/0"
        self.process: Any = None
        if tls:
            import subprocess

            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
                + ["-keyout", str(folder / "key.pem"), "-out", str(self.ca_file)]
                + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                check=True,
                capture_output=True,
            )

    def start(self) -> None:
        import subprocess
        import time

        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        if self.tls:
            args[1:3] = ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self.ca_file), "--tls-ca-cert-file", str(self.ca_file)]
            args += ["--tls-key-file", str(self.folder / "key.pem"), "--tls-auth-clients", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                text = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{text}")
            time.sleep(0.01)

    def _answers(self) -> bool:
        """Whether the server answers PING (``-NOAUTH`` counts: it is up)."""
        import socket
        import ssl

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
                conn = raw
                if self.tls:
                    context = ssl.create_default_context(cafile=str(self.ca_file))
                    conn = context.wrap_socket(raw, server_hostname="127.0.0.1")
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture()
def redis_server_factory(tmp_path: Path) -> Iterator[Any]:
    """Start real ``redis-server`` processes (``factory(password=None, tls=False)``); all stop
    after the test. Skips when the binary is missing (``make install`` installs it, apt-get)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed; `make install` installs it (apt-get)")
    started: list[RedisServer] = []

    def factory(password: str | None = None, tls: bool = False) -> RedisServer:
        folder = tmp_path / f"redis-{len(started)}"
        folder.mkdir()
        if tls and shutil.which("openssl") is None:
            pytest.skip("openssl is not installed: no certificate for a TLS redis-server")
        server = RedisServer(folder, password, tls)
        started.append(server)
        server.start()
        return server

    yield factory
    for server in started:
        server.kill()


@pytest.fixture()
def redis_server(redis_server_factory: Any) -> RedisServer:
    """A real ``redis-server`` (no password) on a free 127.0.0.1 port, stopped after the test."""
    return redis_server_factory()  # type: ignore[no-any-return]
