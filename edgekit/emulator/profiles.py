"""Device profiles: ``devices/<name>.toml`` (format in ``devices/README.md``).

``load_profile("armv7-lowend")`` or ``load_profile("path/to/phone.toml")`` returns a
:class:`Profile`. Other stages import it to name the device a result was measured on.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.errors import EdgekitError

DEFAULT_PROFILE = "armv7-lowend"
# qemu CPU models that run the armv7 tflite-runtime wheel (it needs NEON + VFPv4);
# cortex-a8 / cortex-a9 die with SIGILL inside invoke (measured, ../shared/STACK.md).
SUPPORTED_QEMU_CPUS = ("cortex-a7", "cortex-a15")
_REQUIRED_PROPS = ("ro.product.cpu.abi", "ro.product.model", "ro.build.version.sdk")


def devices_dir() -> Path:
    """The folder holding the profiles (``$EDGEKIT_DEVICES`` or ``<repo>/devices``)."""
    env = os.environ.get("EDGEKIT_DEVICES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "devices"


@dataclass(frozen=True)
class Profile:
    name: str
    kind: str  # "emulated" or "real"
    description: str = ""
    qemu_cpu: str | None = None
    memory_mb: int | None = None
    cores: int | None = None
    properties: dict[str, str] = field(default_factory=dict)
    serial: str | None = None  # real phones: the adb serial that identifies it
    notes: str = ""
    path: Path | None = None

    @property
    def is_emulated(self) -> bool:
        return self.kind == "emulated"

    def prop(self, key: str, default: str = "") -> str:
        return self.properties.get(key, default)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "qemu_cpu": self.qemu_cpu,
            "memory_mb": self.memory_mb,
            "cores": self.cores,
            "serial": self.serial,
            "notes": self.notes,
            "properties": dict(self.properties),
        }


def list_profiles() -> list[str]:
    d = devices_dir()
    return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []


def _resolve(name_or_path: str | os.PathLike) -> Path:
    text = str(name_or_path)
    p = Path(text)
    if text.endswith(".toml") or os.sep in text:
        if p.is_file():
            return p
        raise EdgekitError(f"device profile {text} not found", hint="give a devices/*.toml file or a profile name")
    candidate = devices_dir() / f"{text}.toml"
    if candidate.is_file():
        return candidate
    known = ", ".join(list_profiles()) or "none"
    raise EdgekitError(f"unknown device profile {text!r} (known: {known})", hint=f"add {candidate} (see devices/README.md)")


def load_profile(name_or_path: str | os.PathLike = DEFAULT_PROFILE) -> Profile:
    """Load and validate a device profile by name (``devices/<name>.toml``) or path."""
    path = _resolve(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EdgekitError(f"device profile {path} is not valid TOML: {exc}", hint="fix the file (see devices/README.md)")
    name = str(data.get("name") or path.stem)
    kind = str(data.get("kind", "emulated"))
    if kind not in ("emulated", "real"):
        raise EdgekitError(f"device profile {path}: kind must be 'emulated' or 'real', not {kind!r}")
    props_raw = data.get("properties", {}) or {}
    if not isinstance(props_raw, dict):
        raise EdgekitError(f"device profile {path}: [properties] must be a table of \"key\" = \"value\"")
    props = {str(k): str(v) for k, v in props_raw.items()}
    emu = data.get("emulator", {}) or {}
    qemu_cpu = emu.get("qemu_cpu")
    memory_mb = emu.get("memory_mb")
    cores = emu.get("cores", data.get("cores"))
    if kind == "emulated":
        if qemu_cpu not in SUPPORTED_QEMU_CPUS:
            raise EdgekitError(
                f"device profile {path}: emulator.qemu_cpu must be one of {', '.join(SUPPORTED_QEMU_CPUS)}, not {qemu_cpu!r}",
                hint="the armv7 TFLite runtime needs NEON + VFPv4",
            )
        if not isinstance(memory_mb, int) or memory_mb < 64:
            raise EdgekitError(f"device profile {path}: emulator.memory_mb must be an integer >= 64")
        if not isinstance(cores, int) or cores < 1:
            raise EdgekitError(f"device profile {path}: emulator.cores must be a positive integer")
        missing = [k for k in _REQUIRED_PROPS if not props.get(k)]
        if missing:
            raise EdgekitError(f"device profile {path}: missing properties {', '.join(missing)}")
    else:
        if not data.get("serial"):
            raise EdgekitError(f"device profile {path}: a real phone needs serial = \"<adb serial>\"", hint="see `adb devices`")
    return Profile(
        name=name,
        kind=kind,
        description=str(data.get("description", "")),
        qemu_cpu=qemu_cpu,
        memory_mb=memory_mb,
        cores=cores,
        properties=props,
        serial=data.get("serial"),
        notes=str(data.get("notes", "")),
        path=path,
    )


def profile_for_serial(serial: str) -> Profile | None:
    """The real-phone profile whose ``serial`` matches, if one is described in devices/."""
    for name in list_profiles():
        try:
            p = load_profile(name)
        except EdgekitError:
            continue
        if p.kind == "real" and p.serial == serial:
            return p
    return None
