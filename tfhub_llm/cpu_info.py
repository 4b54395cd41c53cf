"""What CPU this is: its model name, core count and the instruction sets that decide CPU speed settings.

Read from Linux's ``/proc/cpuinfo`` without TensorFlow, so ``make bench`` (standard library only) and the
CLI can name the CPU and :mod:`tfhub_llm.cpu_threads` can choose its thread pools from it. Elsewhere
(no ``/proc/cpuinfo``) the CPU is unknown: no instruction sets, and the choices fall back to
TensorFlow's defaults.
"""

import dataclasses
import os

CPUINFO = "/proc/cpuinfo"
# The instruction sets named wherever a speed figure is given: wide vectors, int8 and bfloat16 dot products, AMX tiles.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")  # native bfloat16 matmul instructions


@dataclasses.dataclass(frozen=True)
class CpuInfo:
    """A CPU: ``model`` (as /proc/cpuinfo names it), ``cores`` (logical CPUs this process may use) and ``flags``."""

    model: str
    cores: int
    flags: frozenset

    @property
    def isa(self):
        """The :data:`ISA_FLAGS` this CPU has, in that order."""
        return [flag for flag in ISA_FLAGS if flag in self.flags]

    def has(self, *flags):
        """Whether the CPU has every one of ``flags``."""
        return all(flag in self.flags for flag in flags)

    @property
    def bfloat16(self):
        """Whether the CPU computes bfloat16 matmuls natively (any of :data:`BFLOAT16_FLAGS`)."""
        return any(flag in self.flags for flag in BFLOAT16_FLAGS)

    def describe(self):
        """One line naming the CPU, e.g. ``AMD EPYC, 2 cores, avx2 fma avx512f avx512_vnni avx512_bf16``."""
        return f"{self.model}, {self.cores} cores, {' '.join(self.isa) or 'none of ' + '/'.join(ISA_FLAGS)}"


def usable_cores():
    """The logical CPUs this process may run on (its affinity where the OS has one, else the CPU count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def read_cpu_info(cpuinfo=CPUINFO):
    """The :class:`CpuInfo` of this machine from ``cpuinfo`` (its first processor's model name and flags)."""
    cores = usable_cores()
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError:
        return CpuInfo("unknown CPU", cores, frozenset())
    fields = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if separator:
            fields.setdefault(key.strip(), value.strip())
    return CpuInfo(fields.get("model name", "unknown CPU"), cores, frozenset(fields.get("flags", "").split()))
