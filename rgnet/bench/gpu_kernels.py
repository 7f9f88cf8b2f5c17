"""Throughput of the Triton checkerboard kernels on a CUDA GPU, against eager PyTorch and NVIDIA's ising-gpu.

Every number is a median over repeated timed calls, warm-up excluded: "graph" timings replay the calls in a
CUDA graph (kernel time without Python launch overhead), "eager" timings launch from Python as a sampler does.
Throughput is attempted spin flips per nanosecond (chains * L^2 per sweep). The HBM bandwidth fraction is
(modelled bytes moved per sweep) / (time per sweep) / (bandwidth of a large device-to-device copy measured in
the same run). Each part runs in its own try/except: a failure is recorded as ``{"error": text}`` in the
result instead of stopping the benchmark. CUDA only.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from rgnet.ising.exact import K_CRITICAL
from rgnet.ising.lattice import checkerboard_mask, neighbour_sum
from rgnet.tables import format_table

#: (name, L, chains) of the benchmarked lattices.
SIZES: tuple[tuple[str, int, int], ...] = (
    ("L1024", 1024, 1),
    ("L4096", 4096, 1),
    ("L16384", 16384, 1),
    ("4096x64^2", 64, 4096),
)
#: Modelled DRAM bytes per attempted flip: int8 kernel reads and writes every byte once per colour;
#: multispin (4 bits per spin) reads the other colour, reads and writes its own colour.
BYTES_PER_FLIP = {"triton_int8": 4.0, "triton_multispin": 1.5}
_TARGET_SITES_PER_CALL = 2e8  # sweeps per timed call are chosen so that a call does about this many updates


def _error(err: BaseException) -> dict[str, str]:
    return {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc(limit=4)}


def _median_ms(fn: Callable[[], object], *, graph: bool) -> float:
    """Median milliseconds per call of ``fn`` (warm-up excluded), in a CUDA graph or launched eagerly."""
    import triton.testing

    fn()  # compile and warm up outside the timed region
    torch.cuda.synchronize()
    if graph:
        return float(triton.testing.do_bench_cudagraph(fn, rep=60, return_mode="median"))
    return float(triton.testing.do_bench(fn, warmup=50, rep=300, return_mode="median"))


def _sweeps_per_call(sites: int) -> int:
    return int(max(1, min(200, round(_TARGET_SITES_PER_CALL / sites))))


def _throughput(
    ms_per_call: float, sweeps: int, sites: int, bytes_per_flip: float | None, peak: float | None
):
    seconds = ms_per_call * 1e-3 / sweeps
    out: dict[str, Any] = {"ms_per_sweep": seconds * 1e3, "flips_per_ns": sites / (seconds * 1e9)}
    if bytes_per_flip is not None:
        out["bytes_per_sweep"] = bytes_per_flip * sites
        out["bandwidth_GBps"] = bytes_per_flip * sites / seconds / 1e9
        if peak:
            out["hbm_fraction"] = bytes_per_flip * sites / seconds / peak
    return out


def peak_copy_bandwidth(n_bytes: int = 2**31) -> dict[str, float]:
    """Bandwidth (bytes/s read + written) of a device-to-device copy of ``n_bytes``: achievable HBM peak."""
    src = torch.empty(n_bytes, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = _median_ms(lambda: dst.copy_(src), graph=False)
    bandwidth = 2 * n_bytes / (ms * 1e-3)
    return {"copy_bytes": float(n_bytes), "ms": ms, "bytes_per_s": bandwidth, "GBps": bandwidth / 1e9}


def _random_lattice(L: int, chains: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator(device="cuda").manual_seed(seed)
    return torch.randint(0, 2, (chains, L, L), generator=gen, device="cuda", dtype=torch.int8) * 2 - 1


def _thresholds(K: float, h: float, rule: str) -> torch.Tensor:
    from rgnet.ising.samplers.triton_kernels import flip_probability_table, thresholds_from_probabilities

    return thresholds_from_probabilities(flip_probability_table(K, h, rule), "cuda")


def bench_triton_int8(
    L: int, chains: int, *, peak: float | None = None, K: float = K_CRITICAL, rule: str = "metropolis"
) -> dict[str, Any]:
    """Time :func:`checkerboard_sweeps` on ``chains`` lattices L x L (int8); graph and eager medians."""
    from rgnet.ising.samplers.triton_kernels import checkerboard_sweeps

    spins = _random_lattice(L, chains)
    thr = _thresholds(K, 0.0, rule)
    sites = chains * L * L
    sweeps = _sweeps_per_call(sites)

    def fn() -> None:
        checkerboard_sweeps(spins, thr, 1234, 0, sweeps)

    out: dict[str, Any] = {"sweeps_per_call": sweeps}
    out["graph"] = _throughput(_median_ms(fn, graph=True), sweeps, sites, BYTES_PER_FLIP["triton_int8"], peak)
    out["eager"] = _throughput(
        _median_ms(fn, graph=False), sweeps, sites, BYTES_PER_FLIP["triton_int8"], peak
    )
    return out


def bench_triton_multispin(
    L: int, chains: int, *, peak: float | None = None, K: float = K_CRITICAL, rule: str = "metropolis"
) -> dict[str, Any]:
    """Time :func:`multispin_sweeps` (4 bits/spin) on ``chains`` lattices L x L; graph and eager medians."""
    from rgnet.ising.samplers.triton_kernels import multispin_layout, multispin_sweeps, pack_multispin

    packed = pack_multispin(_random_lattice(L, chains))
    thr = _thresholds(K, 0.0, rule)
    sites = chains * L * L
    sweeps = _sweeps_per_call(sites)

    def fn() -> None:
        multispin_sweeps(packed, thr, 1234, 0, sweeps)

    out: dict[str, Any] = {"sweeps_per_call": sweeps, "spins_per_word": multispin_layout(L)[0]}
    bpf = BYTES_PER_FLIP["triton_multispin"]
    out["graph"] = _throughput(_median_ms(fn, graph=True), sweeps, sites, bpf, peak)
    out["eager"] = _throughput(_median_ms(fn, graph=False), sweeps, sites, bpf, peak)
    return out


def torch_masked_sweep(spins: torch.Tensor, probabilities: torch.Tensor, masks: tuple[torch.Tensor, ...]):
    """One eager-PyTorch checkerboard sweep: roll neighbour sums, torch.rand, torch.where on a colour mask.

    spins: int8 (chains, L, L); probabilities: float32 (10,) flip table; masks: bool (L, L) per colour.
    Returns the new spins.
    """
    for mask in masks:
        nb = neighbour_sum(spins)
        idx = ((spins + 1) // 2 * 5 + (nb + 4) // 2).long()
        flip = mask & (torch.rand(spins.shape, device=spins.device) < probabilities[idx])
        spins = torch.where(flip, -spins, spins)
    return spins


def bench_torch_eager(
    L: int, chains: int, *, K: float = K_CRITICAL, rule: str = "metropolis"
) -> dict[str, Any]:
    """Time :func:`torch_masked_sweep` (eager launches, one sweep per call)."""
    from rgnet.ising.samplers.triton_kernels import flip_probability_table

    state = {"spins": _random_lattice(L, chains)}
    probs = torch.as_tensor(flip_probability_table(K, 0.0, rule), dtype=torch.float32, device="cuda").view(10)
    masks = (checkerboard_mask(L, 0, "cuda"), checkerboard_mask(L, 1, "cuda"))

    def fn() -> None:
        state["spins"] = torch_masked_sweep(state["spins"], probs, masks)

    return {"eager": _throughput(_median_ms(fn, graph=False), 1, chains * L * L, None, None)}


# ------------------------------------------------------------------------------------------------ ising-gpu
def find_nvcc() -> Path | None:
    """Path of nvcc: PATH, $CUDA_HOME, $CUDA_PATH, /usr/local/cuda*, pip's nvidia-cuda-nvcc; None if absent.

    An nvcc whose toolkit has the cuRAND headers (needed by ising-gpu) is preferred.
    """
    candidates = [shutil.which("nvcc")]
    candidates += [
        os.path.join(os.environ[v], "bin", "nvcc") for v in ("CUDA_HOME", "CUDA_PATH") if v in os.environ
    ]
    candidates += ["/usr/local/cuda/bin/nvcc", *sorted(glob.glob("/usr/local/cuda-*/bin/nvcc"), reverse=True)]
    for base in sys.path:
        candidates += glob.glob(os.path.join(base, "nvidia", "cuda_nvcc", "bin", "nvcc"))
    found = [Path(c).resolve() for c in candidates if c and os.path.isfile(c) and os.access(c, os.X_OK)]
    with_curand = [p for p in found if (p.parent.parent / "include" / "curand.h").is_file()]
    return (with_curand or found or [None])[0]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _tail(text: str, n: int = 1500) -> str:
    return text[-n:]


def _build(src: Path, flags_options: list[str], env: dict[str, str], cuda_home: Path) -> dict[str, Any]:
    """``make`` in ``src`` with the first CUDACFLAGS that works; records what was tried."""
    tried = []
    for flags in flags_options:
        _run(["make", "clean"], src, env, 60)
        proc = _run(["make", f"CUDA_HOME={cuda_home}", f"CUDACFLAGS={flags}"], src, env, 900)
        tried.append(
            {
                "CUDACFLAGS": flags,
                "returncode": proc.returncode,
                "output_tail": _tail(proc.stdout + proc.stderr),
            }
        )
        if proc.returncode == 0:
            return {"ok": True, "CUDACFLAGS": flags, "attempts": tried}
    return {"ok": False, "attempts": tried}


def build_and_run_ising_gpu(anchor_dir: Path | str, workdir: Path | str) -> dict[str, Any]:
    """Build NVIDIA ising-gpu's basic_cuda and optimized programs for sm_90 and run them at our sizes.

    ``anchor_dir`` holds their unmodified sources (basic_cuda/, optimized/, ABOUT.md); they are copied to a
    fresh directory under ``workdir`` and built with nvcc as ABOUT.md says (basic_cuda is retried with
    -std=c++17 if the C++11 build fails, as recent CUB needs it). Returns flips/ns per program and size,
    parsed from the programs' own output (both count L^2 per full sweep), with any errors.
    """
    anchor_dir, workdir = Path(anchor_dir), Path(workdir)
    out: dict[str, Any] = {}
    nvcc = find_nvcc()
    if nvcc is None:
        return {
            "error": "nvcc not found (PATH, CUDA_HOME, CUDA_PATH, /usr/local/cuda*, pip nvidia-cuda-nvcc)"
        }
    cuda_home = nvcc.parent.parent
    out["nvcc"] = str(nvcc)
    env = dict(os.environ, PATH=f"{nvcc.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="ising-gpu-", dir=workdir))
    for name in ("basic_cuda", "optimized"):
        shutil.copytree(anchor_dir / name, root / name)
    out["workdir"] = str(root)

    try:
        build = _build(
            root / "basic_cuda",
            ["-std=c++11 -c -O3 -lineinfo -arch=sm_90", "-std=c++17 -c -O3 -lineinfo -arch=sm_90"],
            env,
            cuda_home,
        )
        out["basic_cuda"] = {"build": build}
        if build["ok"]:
            for name, L, chains in SIZES:
                if chains != 1:
                    continue
                n_iter = int(max(100, min(20000, 2e10 / (L * L))))
                cmd = [
                    "./ising_basic",
                    "-x",
                    str(L),
                    "-y",
                    str(L),
                    "-w",
                    "100",
                    "-n",
                    str(n_iter),
                    "-a",
                    "1.0",
                ]
                out["basic_cuda"][name] = _run_and_parse(
                    cmd, root / "basic_cuda", env, r"updates per ns:\s*([0-9.eE+-]+)"
                )
    except Exception as err:  # noqa: BLE001 - recorded, the benchmark goes on
        out["basic_cuda"] = _error(err)

    try:
        build = _build(root / "optimized", ["-c -O3 --use_fast_math -lineinfo -arch=sm_90"], env, cuda_home)
        out["optimized"] = {"build": build}
        if build["ok"]:
            runs = [(name, L, []) for name, L, chains in SIZES if chains == 1]
            runs.append(("L65536_sublattices2048", 65536, ["--xsl", "2048", "--ysl", "2048"]))
            for name, L, extra in runs:
                if L % 2048:
                    out["optimized"][name] = {
                        "error": f"skipped: ising-gpu optimized needs L a multiple of 2048, L={L}"
                    }
                    continue
                n_iter = int(max(128, min(20000, 2e11 / (L * L))))
                cmd = ["./cuIsing", "-x", str(L), "-y", str(L), "-n", str(n_iter), "-t", "2.269185", *extra]
                out["optimized"][name] = _run_and_parse(cmd, root / "optimized", env, r"([0-9.]+)\s*flips/ns")
    except Exception as err:  # noqa: BLE001
        out["optimized"] = _error(err)
    return out


def _run_and_parse(cmd: list[str], cwd: Path, env: dict[str, str], pattern: str) -> dict[str, Any]:
    try:
        proc = _run(cmd, cwd, env, 600)
    except Exception as err:  # noqa: BLE001
        return _error(err)
    text = proc.stdout + proc.stderr
    match = re.findall(pattern, text)
    if proc.returncode != 0 or not match:
        return {
            "command": " ".join(cmd),
            "error": f"returncode {proc.returncode}, no match",
            "output_tail": _tail(text),
        }
    return {"command": " ".join(cmd), "flips_per_ns": float(match[-1])}


# --------------------------------------------------------------------------------------------- all together
def _safe(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - recorded, the benchmark goes on
        return _error(err)
    finally:
        torch.cuda.empty_cache()


def _flips(entry: dict[str, Any], mode: str) -> float | None:
    return entry.get(mode, {}).get("flips_per_ns") if isinstance(entry, dict) else None


def run_gpu_benchmark(anchor_dir: Path | str | None = None) -> dict[str, Any]:
    """Run every benchmark on the current CUDA device, print a table and return all results as a dict.

    ``anchor_dir``: the ising-gpu sources (e.g. shared/anchors/ising-gpu) to build and compare against; None
    skips that part.
    """
    import triton

    if not torch.cuda.is_available():
        raise RuntimeError("run_gpu_benchmark needs a CUDA device")
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "K": K_CRITICAL,
        "rule": "metropolis",
    }
    result["peak_copy"] = _safe(peak_copy_bandwidth)
    peak = result["peak_copy"].get("bytes_per_s")
    sizes: dict[str, Any] = {}
    for name, L, chains in SIZES:
        entry: dict[str, Any] = {"L": L, "chains": chains}
        entry["triton_int8"] = _safe(partial(bench_triton_int8, L, chains, peak=peak))
        entry["triton_multispin"] = _safe(partial(bench_triton_multispin, L, chains, peak=peak))
        entry["torch_eager"] = _safe(partial(bench_torch_eager, L, chains))
        base = _flips(entry["torch_eager"], "eager")
        for kernel in ("triton_int8", "triton_multispin"):
            fast = _flips(entry[kernel], "graph")
            if base and fast:
                entry[f"{kernel}_graph_over_torch"] = fast / base
        sizes[name] = entry
    result["sizes"] = sizes
    if anchor_dir is not None:
        with tempfile.TemporaryDirectory(prefix="rgnet-bench-") as tmp:
            result["ising_gpu"] = _safe(partial(build_and_run_ising_gpu, anchor_dir, tmp))
    print(format_gpu_table(result))
    return result


def format_gpu_table(result: dict[str, Any]) -> str:
    """Human-readable table of :func:`run_gpu_benchmark`'s result (flips/ns; HBM fraction in brackets)."""
    lines = [f"device: {result.get('device')}  torch {result.get('torch')}  triton {result.get('triton')}"]
    peak = result.get("peak_copy", {})
    lines.append(
        f"device-to-device copy: {peak.get('GBps', float('nan')):.0f} GB/s"
        if "GBps" in peak
        else f"device-to-device copy: {peak.get('error')}"
    )

    def cell(entry: dict[str, Any], mode: str, with_fraction: bool) -> str:
        if "error" in entry:
            return "error"
        sub = entry.get(mode, {})
        text = f"{sub.get('flips_per_ns', float('nan')):.1f}"
        if with_fraction and "hbm_fraction" in sub:
            text += f" ({sub['hbm_fraction']:.2f})"
        return text

    rows = [
        [
            name,
            cell(entry["triton_int8"], "graph", True),
            cell(entry["triton_int8"], "eager", False),
            cell(entry["triton_multispin"], "graph", True),
            cell(entry["triton_multispin"], "eager", False),
            cell(entry["torch_eager"], "eager", False),
        ]
        for name, entry in result.get("sizes", {}).items()
    ]
    header = ["size", "int8 graph", "int8 eager", "multispin graph", "msp eager", "torch eager"]
    lines.append(format_table(header, rows))
    ising = result.get("ising_gpu")
    if isinstance(ising, dict):
        lines.append("ising-gpu (flips/ns):" if "error" not in ising else f"ising-gpu: {ising['error']}")
        for program in ("basic_cuda", "optimized"):
            runs = ising.get(program, {})
            for name, run in runs.items():
                if name == "build":
                    if not run.get("ok"):
                        lines.append(f"  {program}: build failed")
                    continue
                value = run.get("flips_per_ns") if isinstance(run, dict) else None
                lines.append(
                    f"  {program:>10} {name:>24}: " + (f"{value:.1f}" if value else str(run.get("error")))
                )
    return "\n".join(lines)
